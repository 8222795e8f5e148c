"""`planner`: the operator's command line, a thin layer over planner.jobs and friends.

Every option overrides a setting declared in planner.config.Settings (same rule, same
environment variable), so cron needs no arguments. Errors are one clear line on stderr and
a non-zero exit; nothing is half-published.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from clientkit import chain, verify
from clientkit.config import Settings as ClientKitSettings
from clientkit.epochs import Epoch, epoch_at, quicknet_round
from clientkit.errors import ClientKitError
from clientkit.files import replace_file
from clientkit.layout import Source
from envsettings import option
from planner import dataset as data_io
from planner import doctor as doctor_checks
from planner import generate, jobs, keys, lease, report
from planner.config import MAX_DAYS, Settings
from planner.errors import PlannerError
from planner.lock import LockBusy, exclusive
from planner.report import plural_epochs
from planner.store import named, open_source

T = TypeVar("T")
EXPECTED = (PlannerError, ClientKitError)
"""The planner's own failures, and those of the trust code it shares with the client kit."""


class Context:
    """Built once per invocation: settings from the environment, overridden by options."""

    def __init__(
        self,
        settings: Settings | None = None,
        round_for: Callable[[Epoch], int] = quicknet_round,
    ) -> None:
        self._settings = settings
        self.round_for = round_for
        self.rehearsal = False
        self.rebuild = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    def override(self, **changes: Any) -> None:
        """Apply the command's options (None: not given), checked like the environment."""
        self._settings = self.settings.with_overrides(**changes)

    def override_run(self, **changes: Any) -> None:
        """`override`, for a command that works on the bucket when SPACES_BUCKET is set:
        a --published folder given with it was ignored, so a "local rehearsal" went to the
        bucket."""
        self.override(**changes)
        if changes.get("published") is not None and self.settings.bucket is not None:
            raise click.UsageError(
                f"--published {changes['published']} names a folder, but SPACES_BUCKET is set, "
                "so this run would use the bucket: unset SPACES_BUCKET to work on a folder"
            )

    def now(self) -> datetime:
        return self.settings.now or datetime.now(UTC)

    def load_data(
        self, data_named: str | None = None
    ) -> tuple[data_io.Dataset, list[data_io.StatePriority]]:
        """The zipcode file and the priority list; a file that cannot be read is named with
        what gave it: its setting or option, or `data_named` (check's argument)."""
        s = self.settings
        return (
            data_io.load_dataset(s.data, s.count_column, data_named or s.named("data")),
            data_io.load_priorities(s.priorities, s.named("priorities")),
        )

    def planner(self) -> jobs.Planner:
        """The run's planner. Commands build it before taking the lock and the bucket's
        lease: a missing or weak PLANNER_SECRET is then said before anything is written."""
        s = self.settings
        return jobs.Planner(
            public=s.public_store(),
            private=s.private_store(),
            secret=s.master_key(),
            legacy_state_key=keys.legacy_state_key(s.secret_bytes()),
            config=s.selection,
            load_data=self.load_data,
            horizon=s.horizon,
            epoch_hours=s.epoch_hours,
            round_for=self.round_for,
            progress=_progress,
            audit_count=s.audit_zipcodes,
            real_clock=None if s.bucket is None or self.rehearsal else _real_clock,
            rebuild=self.rebuild,
        )


def _real_clock() -> datetime:
    return datetime.now(UTC)


pass_context = click.make_pass_decorator(Context, ensure=True)


def _progress(items: Iterable[T], length: int, label: str) -> AbstractContextManager[Iterable[T]]:
    """A bar on stderr for long work at a terminal; cron logs stay clean."""
    if length < 24 or not sys.stderr.isatty():
        return nullcontext(items)
    return click.progressbar(items, length=length, label=label.ljust(10), file=sys.stderr)


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the expected failures into `Error: ...` and exit 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except EXPECTED as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


now_option = option(Settings, "now", type=click.STRING)
published_option = option(Settings, "published")
data_option = option(Settings, "data")
priorities_option = option(Settings, "priorities")
count_column_option = option(Settings, "count_column")
days_option = option(Settings, "horizon_days")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="subnet46-epochs")
def cli() -> None:
    """Plan, seal and reveal the zipcode assignments of subnet 46's epochs."""


@cli.command()
@click.argument("data", required=False, type=click.Path(dir_okay=False, path_type=Path))
@priorities_option
@count_column_option
@days_option
@now_option
@pass_context
@friendly
def check(ctx: Context, data: Path | None, **options: Any) -> None:
    """Validate a zipcode file and summarise it per state.

    With PLANNER_AUDIT_ZIPCODES set, also simulate a plan of the horizon: an epoch of as
    many zipcodes or fewer would stop it.
    """
    ctx.override(data=data, **options)
    dataset, ranked = ctx.load_data(None if data is None else "the DATA argument")
    s = ctx.settings
    bounds = s.selection
    rows = data_io.summarise(dataset, ranked, bounds.min_listings, bounds.max_listings)
    weights = sum(p.weight for p in ranked)
    click.echo(
        f"{dataset.source}: {len(dataset):,} zipcodes in {len(dataset.states())} states, "
        f"sha256 {dataset.sha256}"
    )
    click.echo(
        f"priorities {s.priorities}: {', '.join(p.state for p in ranked)}; zipcodes with "
        f"{bounds.min_listings}..{bounds.max_listings} listings are eligible"
    )
    click.echo()
    listed = [r for r in rows if r.rank is not None]
    body = [
        [
            r.state,
            r.rank,
            report.percent(r.weight, weights),
            f"{r.zipcodes:,}",
            f"{r.eligible_zipcodes:,}",
            f"{r.eligible_listings:,}",
        ]
        for r in listed
    ]
    body.append(
        [
            "total",
            "",
            "",
            f"{sum(r.zipcodes for r in listed):,}",
            f"{sum(r.eligible_zipcodes for r in listed):,}",
            f"{sum(r.eligible_listings for r in listed):,}",
        ]
    )
    click.echo(
        report.table(["state", "rank", "share", "zipcodes", "eligible", "expected listings"], body)
    )
    for r in listed:
        if r.zipcodes == 0:
            click.echo(f"warning: {r.state} is listed but the file has no {r.state} zipcodes")
    others = [r.state for r in rows if r.rank is None]
    if others:
        click.echo(f"not on the priority list, never assigned: {', '.join(others)}")
    eligible = sum(r.eligible_listings for r in listed)
    if eligible < bounds.low:
        raise click.ClickException(
            f"only {eligible:,} eligible listings in the states on the priority list; "
            f"planning needs at least {bounds.low:,} per epoch (target "
            f"{bounds.target_listings:,} ± {bounds.tolerance_percent:g}%): every tick would "
            "fail with this file"
        )
    bounds.due_after(s.epoch_hours * 3600)  # a deadline inside the cooldown fails every plan
    if s.audit_zipcodes:
        _check_audit_count(ctx, dataset, ranked)


def _simulate(
    ctx: Context, dataset: data_io.Dataset, ranked: list[data_io.StatePriority]
) -> report.Simulation:
    """The plan of the horizon from now, chosen but not sealed (`check`, `preview`)."""
    s = ctx.settings
    return report.simulate(
        dataset,
        ranked,
        s.selection,
        s.master_key() if s.secret else None,
        epoch_at(ctx.now(), s.epoch_hours),
        s.horizon,
        _progress,
        s.audit_zipcodes,
    )


def _check_audit_count(
    ctx: Context, dataset: data_io.Dataset, ranked: list[data_io.StatePriority]
) -> None:
    """Simulate the horizon's plan, as `preview` does, to find an epoch too small for the
    audit zipcodes: known only once its zipcodes are chosen, it would stop every plan."""
    simulation = _simulate(ctx, dataset, ranked)
    if simulation.error:
        s = ctx.settings
        raise click.ClickException(
            f"a plan of {s.horizon_days:g} days ({s.named('horizon_days')}) with these "
            f"settings would stop: {simulation.error}"
        )


@cli.command("generate-data")
@click.option("--states", default="", help="Comma-separated state codes (default: every state).")
@click.option("--seed", type=click.IntRange(min=0), default=generate.SAMPLE_SEED, show_default=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file; .csv or .json.",
)
@friendly
def generate_data(states: str, seed: int, out: Path) -> None:
    """Write a synthetic zipcode file in the seed schema (real zipcodes, made-up counts)."""
    codes = [c.strip().upper() for c in states.split(",") if c.strip()] or None
    frame = generate.generate(codes, seed)
    size = generate.write(frame, out)
    per_state = frame.groupby("state").size()
    click.echo(
        f"wrote {len(frame):,} zipcodes "
        f"({', '.join(f'{k} {v:,}' for k, v in per_state.items())}; "
        f"{int(frame['recently_sold_listings'].sum()):,} listings) to {out} ({size:,} bytes), "
        f"seed {seed}"
    )


def _plan_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for add in (
        days_option,
        count_column_option,
        priorities_option,
        data_option,
        published_option,
        now_option,
    ):
        command = add(command)
    return command


rehearsal_option = click.option(
    "--rehearsal",
    is_flag=True,
    default=False,
    help="The bucket is a rehearsal: allow a --now/PLANNER_NOW that is not the real clock, "
    "which a bucket otherwise refuses (docs/planner.md, Simulating time); a local folder "
    "always allows it.",
)


rebuild_option = click.option(
    "--rebuild",
    is_flag=True,
    default=False,
    help="The published folder lost index.json: publish again every epoch the private state "
    "records, and every sealed file it holds (without it, such a folder is refused as a "
    "mistyped PLANNER_PUBLISHED).",
)


def _bucket_lease(s: Settings) -> AbstractContextManager[object]:
    """With a bucket, the lease that keeps runs on other machines out (planner.lease)."""
    if s.bucket is None:
        return nullcontext()
    return lease.held(s.private_store(), s.lease_seconds, s.lease_settle_seconds)


@contextmanager
def _alone(s: Settings) -> Iterator[None]:
    """The only run that writes: this machine's lock (a tick cron started meanwhile), then
    the bucket's lease (a run on another machine). A run already holding the lock fails
    this one (`tick` leaves the work to it instead)."""
    with exclusive(s.state_dir / "tick.lock", s.lock_wait_seconds), _bucket_lease(s):
        yield


def _echo_plan(result: jobs.PlanResult) -> None:
    if result.error:
        click.echo("planning failed: see the error below")
    elif result.sealed:
        click.echo(
            f"sealed {plural_epochs(len(result.sealed))}: {result.sealed[0]} .. {result.sealed[-1]}"
        )
    else:
        click.echo("nothing to seal: the plan already reaches the horizon")
    for note in result.notes:
        click.echo(f"note: {note}")
    for repair in result.repairs:
        click.echo(f"repaired: {repair}")
    for epoch_id in result.foreign:
        click.echo(
            f"not sealed here: index.json lists {epoch_id}, which this planner never sealed; "
            "it is left in place, and the plan does not reach past it until it is removed"
        )
    click.echo(f"horizon: {result.horizon or 'none'}")


def _echo_reveal(result: jobs.RevealResult) -> None:
    if result.revealed:
        click.echo(f"revealed {plural_epochs(len(result.revealed))}: {', '.join(result.revealed)}")
    else:
        click.echo("nothing to reveal")
    for note in result.notes:
        click.echo(f"note: {note}")
    for repair in result.repairs:
        click.echo(f"repaired: {repair}")
    click.echo(f"current: {result.current or 'none revealed'}")


def _fail_on_repairs(*results: jobs.PlanResult | jobs.RevealResult, rebuild: bool) -> None:
    """Exit 1 after a run that found published files changed by someone else (with
    --rebuild, putting lost files back is what was asked: the `repaired:` lines say what)."""
    if not rebuild and any(r.repairs for r in results):
        raise click.ClickException(
            "the published files had been changed by someone else; this run put back what "
            "this planner sealed (the `repaired:` lines above): find out who can write to "
            "the bucket (docs/security.md)"
        )
    if any(isinstance(r, jobs.PlanResult) and r.foreign for r in results):
        raise click.ClickException(
            "index.json lists epochs this planner never sealed (the `not sealed here:` lines "
            "above): someone else can write to the bucket; remove those entries by hand "
            "(docs/operations.md) and find out who (docs/security.md)"
        )


@cli.command()
@_plan_options
@rehearsal_option
@rebuild_option
@pass_context
@friendly
def plan(ctx: Context, rehearsal: bool, rebuild: bool, **options: Any) -> None:
    """Seal every epoch up to the horizon that is not sealed yet (needs PLANNER_SECRET)."""
    ctx.override_run(**options)
    ctx.rehearsal, ctx.rebuild = rehearsal, rebuild
    planner = ctx.planner()
    with _alone(ctx.settings):
        planned = jobs.plan(planner, ctx.now())
    _echo_plan(planned)
    _fail_on_repairs(planned, rebuild=rebuild)


@cli.command()
@published_option
@now_option
@rehearsal_option
@rebuild_option
@pass_context
@friendly
def reveal(ctx: Context, rehearsal: bool, rebuild: bool, **options: Any) -> None:
    """Publish the plain assignment of every sealed epoch that has started."""
    ctx.override_run(**options)
    ctx.rehearsal, ctx.rebuild = rehearsal, rebuild
    planner = ctx.planner()
    with _alone(ctx.settings):
        revealed = jobs.reveal(planner, ctx.now())
    _echo_reveal(revealed)
    _fail_on_repairs(revealed, rebuild=rebuild)


@cli.command()
@_plan_options
@option(Settings, "lock_wait_seconds")
@rehearsal_option
@rebuild_option
@pass_context
@friendly
def tick(ctx: Context, rehearsal: bool, rebuild: bool, **options: Any) -> None:
    """What cron runs every few minutes: plan, then reveal (and upload, with a bucket).

    The reveal runs even when planning fails (a broken zipcode file): the error is printed
    after it and the exit status is 1.
    """
    ctx.override_run(**options)
    ctx.rehearsal, ctx.rebuild = rehearsal, rebuild
    s, planner = ctx.settings, ctx.planner()
    try:
        with _alone(s):
            planned, revealed = jobs.tick(planner, ctx.now())
    except LockBusy as exc:
        click.echo(f"{exc}; this run leaves the work to it", err=True)
        return
    _echo_plan(planned)
    _echo_reveal(revealed)
    # a first tick that could not plan has nothing to publish, nor a folder to name
    nothing = planned.horizon is None and not revealed.written
    where = named(s.public_store())
    click.echo(f"nothing published in {where} yet" if nothing else f"published to {where}")
    _fail_on_repairs(planned, revealed, rebuild=rebuild)
    if planned.error:
        done = (
            "nothing was sealed or published"
            if nothing
            else "nothing new was sealed (the started epochs were revealed)"
        )
        raise click.ClickException(f"planning failed, so {done}: {planned.error}")


@cli.command()
@published_option
@data_option
@priorities_option
@count_column_option
@click.option(
    "--coverage-days",
    type=click.IntRange(min=1, max=MAX_DAYS),
    default=7,
    show_default=True,
    help=f"Window for the coverage report, in days (at most {MAX_DAYS}).",
)
@now_option
@pass_context
@friendly
def status(ctx: Context, coverage_days: int, **options: Any) -> None:
    """The epochs around now, the horizon and coverage per state."""
    ctx.override_run(**options)
    s = ctx.settings
    for line in report.status_lines(
        s.public_store(existing=True),
        s.private_store() if s.secret else None,
        s.master_key() if s.secret else None,
        ctx.load_data,
        s.selection,
        ctx.now(),
        s.epoch_hours,
        coverage_days,
    ):
        click.echo(line)


@cli.command()
@data_option
@priorities_option
@count_column_option
@click.option(
    "--days",
    "period_days",
    type=click.FloatRange(min=0, min_open=True, max=MAX_DAYS),
    default=30.0,
    show_default=True,
    help="Period to simulate, in days.",
)
@now_option
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("preview.html"),
    show_default=True,
    help="HTML report to write.",
)
@pass_context
@friendly
def preview(ctx: Context, report_path: Path, period_days: float, **options: Any) -> None:
    """Dry-run the selection over a period, seal nothing, and report shares and coverage."""
    ctx.override(horizon_days=period_days, **options)
    if not os.access(report_path.resolve().parent, os.W_OK):
        raise click.ClickException(
            f"cannot write the report {report_path}: its folder does not exist or is not "
            "writable (--report)"
        )
    dataset, priorities = ctx.load_data()
    simulation = _simulate(ctx, dataset, priorities)
    _write_report(report_path, report.preview_html(simulation))
    click.echo(report.preview_text(simulation))
    click.echo(f"report: {report_path}")
    if simulation.error:
        raise click.ClickException(
            "a plan with these settings would stop (the `stopped early:` line above); the "
            "report shows the epochs before it"
        )


def _write_report(path: Path, html: str) -> None:
    """Write the preview report in one step: a failing write (a full disk) leaves no half
    report, and is named."""
    try:
        replace_file(path, html.encode(), 0o644)
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the report {path} (--report): {exc.strerror or exc}"
        ) from exc


@cli.command("rotate-secret")
@published_option
@pass_context
@friendly
def rotate_secret(ctx: Context, **options: Any) -> None:
    """Re-encrypt the private state from PLANNER_SECRET to PLANNER_NEW_SECRET."""
    ctx.override_run(**options)
    new = keys.check_strength(
        ctx.settings.new_secret, "PLANNER_NEW_SECRET", "`planner rotate-secret`"
    )
    if ctx.settings.new_secret == ctx.settings.secret:
        raise click.ClickException(
            "PLANNER_NEW_SECRET is PLANNER_SECRET itself: there is nothing to rotate to; "
            "generate a new one with `planner new-secret`"
        )
    planner = ctx.planner()
    with _alone(ctx.settings):
        last = jobs.rotate_secret(planner, keys.master_key(new))
    click.echo("the private state is now encrypted under PLANNER_NEW_SECRET")
    if last:
        click.echo(
            f"epochs up to {last} were sealed with the old secret and stay as committed; "
            "the next ones use the new secret"
        )
    click.echo("now set PLANNER_SECRET to the new value wherever the planner runs")


@cli.command("new-secret")
def new_secret() -> None:
    """Print a fresh random PLANNER_SECRET (256 bits, hex) to put in the job's settings."""
    click.echo(keys.new_secret())


def _chain_head(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value and not re.fullmatch(r"sha256:[0-9a-f]{64}", value[1]):
        raise click.BadParameter(
            f"the hash must be sha256: and 64 hex digits, got {value[1]!r}", ctx, param
        )
    return value or None


@cli.command("verify")
@click.argument("epoch_id", required=False)
@published_option
@option(Settings, "drand_urls", multiple=True)
@option(ClientKitSettings, "head_file")
@click.option(
    "--head",
    nargs=2,
    metavar="EPOCH_ID HASH",
    callback=_chain_head,
    help="A chain head published elsewhere (as verify prints it: `chain: head EPOCH_ID "
    "HASH`): index.json must hold that entry unchanged.",
)
@now_option
@pass_context
@friendly
def verify_command(
    ctx: Context,
    epoch_id: str | None,
    head_file: Path | None,
    head: tuple[str, str] | None,
    **options: Any,
) -> None:
    """Check an epoch as a miner would: drand opens the sealed file, the hash matches.

    index.json must extend the chain head seen by the last verify (kept in the head file)
    and any --head given; with PLANNER_SECRET, it must also list every entry this planner
    sealed unchanged (its private state). --published may be a folder or the base URL of
    the published files.
    """
    # read before the options are applied: the settings they make have every field set
    given = options["published"] is not None or "published" in ctx.settings.model_fields_set
    ctx.override(**{**options, "drand_urls": options["drand_urls"] or None})
    s = ctx.settings
    history: list[verify.HistoryCheck] = []
    if head is not None:
        history.append(
            ("pinned head", functools.partial(chain.expect, pinned=head, whence="--head"))
        )
    if s.secret:
        history.append(("planner state", functools.partial(jobs.check_history, ctx.planner())))
    outcome = verify.verify_epoch(
        _published_source(s, given),
        epoch_id,
        ctx.now(),
        s.drand_urls,
        ctx.round_for,
        check_current=True,
        pin=chain.HeadPin(
            ClientKitSettings.from_env(head_file=head_file).chain_heads(),
            setting="--head-file (or CLIENTKIT_HEAD_FILE)",
        ),
        history=history,
    )
    for check_ in outcome.checks:
        click.echo(f"{'ok  ' if check_.ok else 'FAIL'} {check_.name}: {check_.detail}")
    if not outcome.ok:
        what = f"epoch {outcome.epoch_id}" if outcome.epoch_id else "the published files"
        raise click.ClickException(f"{what} failed verification")
    click.echo(f"epoch {outcome.epoch_id} verified")


def _published_source(s: Settings, given: bool) -> Source:
    """What verify reads: --published or PLANNER_PUBLISHED when `given`; else, with a bucket,
    the bucket as miners read it (SPACES_PUBLIC_URL, or the bucket on its endpoint), not the
    default local folder, where a bucket's ticks publish nothing."""
    if s.bucket is None or given:
        return open_source(s.published, s.named("published"))
    return open_source(s.spaces_public_url or doctor_checks.default_public_url(s.bucket))


@cli.command()
@option(Settings, "spaces_public_url")
@pass_context
@friendly
def doctor(ctx: Context, **options: Any) -> None:
    """Check the bucket for real before going live, and clean up after.

    Steps: credentials, list, write/read/delete a probe, anonymous read of a public
    object, the private state not anonymously readable, a presigned POST confined to a
    prefix, CORS (a warning only: browsers need it, miners do not).
    """
    ctx.override(**options)
    s = ctx.settings
    if s.bucket is None:
        raise click.ClickException(
            "SPACES_BUCKET is not set, so there is no bucket to check (the planner publishes "
            f"to the local folder {s.published}); set the SPACES_* settings first"
        )
    outcome = doctor_checks.check_bucket(s.bucket, s.spaces_public_url)
    for step in outcome.steps:
        click.echo(step.line)
    if not outcome.ok:
        raise click.ClickException(f"{s.bucket.describe()} is not ready: see the FAIL lines")
    click.echo(f"{s.bucket.describe()} is ready")
