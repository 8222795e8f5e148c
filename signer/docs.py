"""The explorer: /openapi.json, Swagger UI at /docs, and the landing page.

Swagger UI's files come from the flask-openapi3-swagger wheel and are served by the
signer itself, so /docs works with no internet. The OpenAPI document is the one
flask-openapi3 builds from the pydantic models, plus the planner's static files on the
CDN, so a miner sees every API it uses in one place, its 413 examples naming the body
limits as configured. `flask --app signer openapi` prints (or writes) that same document.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import click
import flask_openapi3_swagger
from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask.cli import with_appcontext
from flask_openapi3 import OpenAPI
from flask_openapi3.utils import parse_rule

from signer import bodylimit, taoauth
from signer.models import Assignment, PublishedIndex
from signer.services import services

SWAGGER_ASSETS = Path(flask_openapi3_swagger.__file__).parent / "templates" / "swagger"
PUBLISHED_TAG = "published files (CDN)"
REF_TEMPLATE = "#/components/schemas/{model}"

pages = Blueprint(
    "pages",
    __name__,
    static_folder=str(SWAGGER_ASSETS),
    static_url_path="/docs/assets",
)


@pages.get("/")
def landing() -> str:
    svc = services()
    return render_template(
        "signer_index.html",
        epoch=svc.current_epoch(),
        netuid=svc.settings.netuid,
        network=svc.settings.network,
    )


@pages.get("/docs")
def swagger_ui() -> str:
    return render_template(
        "signer_docs.html",
        asset=lambda name: url_for("pages.static", filename=name),
        spec_url=url_for("pages.openapi_json"),
    )


@pages.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(openapi_document(cast(OpenAPI, current_app)))


@click.command("openapi")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the document to this file instead of printing it.",
)
@with_appcontext
def openapi_command(output: Path | None) -> None:
    """Print the OpenAPI document /openapi.json serves, as the settings make it."""
    text = json.dumps(openapi_document(cast(OpenAPI, current_app)), indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}")


def openapi_document(app: OpenAPI) -> dict[str, Any]:
    """flask-openapi3's document, completed with the CDN files and this app's body limits,
    and trimmed of noise."""
    spec = copy.deepcopy(app.api_doc)
    limits = _body_limits(app)
    for path, path_item in spec["paths"].items():
        for method, operation in path_item.items():
            too_large = operation["responses"].get("413")
            if too_large is not None:
                # The example (errors.TOO_LARGE) names the limit, which the settings choose.
                example = too_large["content"]["application/json"]["example"]
                example["detail"] = example["detail"].format(limit=limits[method, path])
            if "requestBody" not in operation and not operation.get("parameters"):
                # flask-openapi3 adds a 422 to every operation; only a body or parameters
                # can be refused by validation.
                operation["responses"].pop("422", None)
            if {"taoHeaders": []} in operation.get("security", ()):
                # Read by signer/taoauth.py, not validated by flask-openapi3: declared here.
                operation.setdefault("parameters", []).extend(taoauth.OPENAPI_PARAMETERS)
    schemas = spec["components"]["schemas"]
    for model in (Assignment, PublishedIndex):
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    cdn = services().settings.cdn_url
    spec["paths"].update(_published_paths(cdn))
    spec.setdefault("tags", []).append(
        {
            "name": PUBLISHED_TAG,
            "description": "Static files the planner publishes; served by the CDN, not by "
            "this signer. No signature needed.",
        }
    )
    return spec


def _body_limits(app: OpenAPI) -> dict[tuple[str, str], int]:
    """The body limit of each operation the app routes, by (method, OpenAPI path)."""
    return {
        (method.lower(), parse_rule(rule.rule)): bodylimit.limit(app, rule.endpoint)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
    }


def _published_paths(cdn_url: str | None) -> dict[str, Any]:
    servers: list[dict[str, Any]]
    if cdn_url:
        servers = [{"url": cdn_url, "description": "published files (CDN)"}]
    else:
        servers = [
            {
                "url": "{cdn}",
                "description": "published files; set SIGNER_CDN_URL to fill this in",
                "variables": {"cdn": {"default": "https://cdn.example.com/subnet46"}},
            }
        ]

    def json_file(
        operation_id: str, summary: str, description: str, schema: str, cache: str
    ) -> dict[str, Any]:
        return {
            "get": {
                "tags": [PUBLISHED_TAG],
                "summary": summary,
                "description": f"{description}\n\nCache-Control: `{cache}`.",
                "operationId": operation_id,
                "servers": servers,
                "responses": {
                    "200": {
                        "description": summary,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{schema}"}
                            }
                        },
                    },
                    "404": {"description": "Not published (yet)"},
                },
            }
        }

    epoch_param = {
        "name": "epochId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}-00-00$"},
        "example": "2026-11-25T16-00-00",
    }
    revealed = json_file(
        "published_epoch",
        "Revealed assignment of one epoch",
        "Published once the epoch has started; byte-identical to the sealed plaintext. "
        "Check it: `'sha256:' + sha256(bytes)` equals the epoch's `commitment` in index.json.",
        "Assignment",
        "public, max-age=31536000, immutable",
    )
    revealed["get"]["parameters"] = [epoch_param]
    return {
        "/index.json": json_file(
            "published_index",
            "Manifest of every planned epoch",
            "drand chain info and, per epoch: start, end, reveal round, sealed file, "
            "commitment, and the revealed file once public.",
            "PublishedIndex",
            "public, max-age=30",
        ),
        "/current.json": json_file(
            "published_current",
            "Current epoch's assignment",
            "The revealed assignment of the epoch in progress.",
            "Assignment",
            "public, max-age=30",
        ),
        "/epochs/{epochId}.json": revealed,
        "/sealed/{epochId}.tlock": {
            "get": {
                "tags": [PUBLISHED_TAG],
                "summary": "Sealed assignment of one epoch",
                "description": "The assignment bytes timelock-encrypted (drand quicknet) to "
                "the epoch's reveal round: anyone can decrypt it with that round's signature "
                "(`bittensor_core.decrypt_with_signature`) once the epoch has started.\n\n"
                "Cache-Control: `public, max-age=31536000, immutable`.",
                "operationId": "published_sealed",
                "servers": servers,
                "parameters": [epoch_param],
                "responses": {
                    "200": {
                        "description": "Timelock ciphertext",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "404": {"description": "Not sealed (yet)"},
                },
            }
        },
    }
