"""Signer: hotkey-verified, folder-scoped S3 credentials for subnet 46 miners and validators.

WSGI entry point: `signer:create_app()` (see the Procfile).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from flask.json.provider import DefaultJSONProvider
from flask_openapi3 import Info, OpenAPI

from signer import api, body, bodylimit, docs, legacy, listing, ratelimit, requestlog
from signer.config import ENV_NAMES, load_settings
from signer.credentials import make_client
from signer.errors import register_error_handlers, validation_error_response
from signer.metagraph import MetagraphStore, Refresher, fetch_metagraph
from signer.models import ErrorResponse
from signer.proxy import TrustedProxies
from signer.published import CurrentCache
from signer.ratelimit import AddressLimit, HotkeyQuota, open_limiter
from signer.services import Services

DESCRIPTION = """Issues short-lived S3 credentials (presigned POST / list URLs) scoped to a
hotkey's folder, after checking an sr25519 signature by the hotkey and the subnet's
metagraph. Errors are JSON: `{"error": code, "detail": message}`.

Each signed endpoint documents its message. In Python:

```python
import time, requests
from bittensor_core import Keypair

signer = "http://127.0.0.1:8000"                   # this service
hotkey = Keypair.create_from_uri("//Bob")          # your hotkey
coldkey = Keypair.create_from_uri("//Bob//stash").ss58_address   # its coldkey
timestamp = int(time.time())
message = f"s3:data:access:{coldkey}:{hotkey.ss58_address}:{timestamp}"
body = {"coldkey": coldkey, "hotkey": hotkey.ss58_address, "timestamp": timestamp,
        "signature": hotkey.sign(message.encode()).hex()}
access = requests.post(f"{signer}/get-folder-access", json=body, timeout=30).json()
```

The planner's published files (assignments, sealed epochs, index) are listed here too,
under *published files (CDN)*: they are served by the CDN, not by this signer."""

SECURITY_SCHEMES: dict[str, Any] = {
    "hotkeySignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Hotkey-Signature",
        "description": "Not a header: the hotkey, timestamp and sr25519 signature travel in "
        "the JSON body (`hotkey`, `timestamp`, `signature`) over the message each operation "
        "documents. The Authorize dialog can stay empty.",
    },
    "taoHeaders": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Tao-Signature",
        "description": "The other way to sign, as the current data-universe client does: leave "
        "`hotkey`, `timestamp` and `signature` out of the body and send `X-Tao-Version: 2`, "
        "`X-Tao-Timestamp` (unix milliseconds), `X-Tao-Nonce` (a fresh UUID), "
        "`X-Tao-Signed-By` (the hotkey) and `X-Tao-Signature`: the base64 sr25519 "
        "signature over `sha256(body).hexdigest() + '.' + nonce + '.' + timestamp`, the body "
        "being the exact bytes sent. Same timestamp window as the body form; each nonce is "
        "accepted once.",
    },
}


EXEMPT = (api.healthz, api.readyz, legacy.healthcheck, listing.read_object)
"""Views the per-address limit does not count: the probes, and objects read through a list
URL (a validator reads a miner's files one by one, each a redirect its signed URL allows)."""
WITH_QUOTA = (
    api.get_folder_access,
    api.get_file_upload_url,
    api.get_validator_access,
    api.validator_upload,
    api.get_miner_list,
    api.get_miner_specific_access,
    api.get_file_presigned_urls,
)
"""Views that spend a hotkey's quota on every request passing their checks: the address is
counted in the quota's call, one round trip to a shared Redis instead of two."""


class InOrderJSON(DefaultJSONProvider):
    """JSON with keys in the order the code writes them (the documented order)."""

    sort_keys = False


def create_app(config: Mapping[str, Any] | None = None) -> OpenAPI:
    """Build the signer.

    Settings come from the environment; `config` entries named like environment settings
    (e.g. `SIGNER_METAGRAPH`) override them, anything else goes to `app.config` (e.g.
    `NOW`, a callable returning unix seconds, to pin the clock in tests).
    """
    overrides = dict(config or {})
    environ = dict(os.environ)
    environ.update({k: str(v) for k, v in overrides.items() if k in ENV_NAMES})
    settings = load_settings(environ)

    requestlog.configure_logging()
    app = OpenAPI(
        __name__,
        info=Info(
            title="Subnet 46 signer", version=version("subnet46-epochs"), description=DESCRIPTION
        ),
        security_schemes=SECURITY_SCHEMES,
        validation_error_status=422,
        validation_error_model=ErrorResponse,
        validation_error_callback=validation_error_response,
        doc_ui=False,
        static_folder=None,
    )
    # A path is taken as sent: werkzeug would answer `//` in it with a 308 to the merged
    # path and an HTML page; unmerged, a path no route matches is a JSON 404.
    app.url_map.merge_slashes = False
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        NOW=time.time,
    )
    app.config.update({k: v for k, v in overrides.items() if k not in ENV_NAMES})
    app.json = InOrderJSON(app)
    if settings.trusted_proxies:
        # Wrapping wsgi_app is Flask's documented way to add middleware; its stubs disagree.
        app.wsgi_app = TrustedProxies(  # type: ignore[method-assign, assignment]
            app.wsgi_app,
            settings.trusted_proxies,
            settings.proxy_hops,
            settings.client_ip_header,
        )

    clock = app.config["NOW"]
    requestlog.install(app)
    bodylimit.install(app)
    limiter = open_limiter(settings.ratelimit_storage)
    ratelimit.install(app, AddressLimit(limiter, settings.ratelimit_address), EXEMPT, WITH_QUOTA)
    body.install(app)  # after the per-address limit, before validation and the views

    store = MetagraphStore(
        settings.metagraph_path, settings.netuid, settings.metagraph_max_age, clock
    )
    app.extensions["signer"] = svc = Services(
        settings=settings,
        clock=clock,
        store=store,
        limiter=limiter,
        miner_quota=HotkeyQuota(limiter, settings.ratelimit_miner, "miner"),
        validator_quota=HotkeyQuota(limiter, settings.ratelimit_validator, "validator"),
        status_quota=HotkeyQuota(limiter, settings.ratelimit_miner, "status"),
        s3=make_client(settings) if settings.s3_bucket else None,
    )
    if settings.published_is_url:
        svc.current_cache = CurrentCache(settings.published)
        svc.current_cache.start()
    if settings.metagraph_refresh > 0:
        svc.refresher = Refresher(
            store,
            lambda: fetch_metagraph(settings.network, settings.netuid),
            settings.metagraph_refresh,
        )
        svc.refresher.start()

    app.register_api(api.miner_api)
    app.register_api(api.validator_api)
    app.register_api(api.public_api)
    app.register_api(legacy.legacy_api)
    app.register_api(legacy.status_api)
    app.register_api(listing.listing_api)
    app.register_blueprint(docs.pages)
    # In place of flask-openapi3's `flask openapi`, which prints its raw document (413
    # examples holding a `{limit}` placeholder, no CDN files, no X-Tao-* headers).
    app.cli.add_command(docs.openapi_command)
    register_error_handlers(app)
    return app
