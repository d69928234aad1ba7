"""OpenAPI at `/schema`: the JSON document always; the Swagger UI when its assets are installed.

The UI's JavaScript and CSS come from npm `swagger-ui-dist` (agent_ui/assets), served by the hub
from `/static/vendor/`, never from a CDN.
"""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from agent_ui.web import STATIC


def openapi_config() -> OpenAPIConfig:
    plugins: list = []
    vendor = STATIC / "vendor"
    if (vendor / "swagger-ui-bundle.js").exists():  # the first plugin also answers at /schema
        plugins.append(SwaggerRenderPlugin(
            js_url="/static/vendor/swagger-ui-bundle.js",
            css_url="/static/vendor/swagger-ui.css",
            standalone_preset_js_url="/static/vendor/swagger-ui-standalone-preset.js",
            favicon="<link rel='icon' href='data:,'>",
        ))
    plugins.append(JsonRenderPlugin())
    return OpenAPIConfig(
        title="Contact hub API", version="1", path="/schema", render_plugins=plugins,
        description="JSON API of the contact hub. Obtain a token with POST /api/v1/auth/token and send it "
                    "as `Authorization: Bearer <token>`.",
        components=Components(security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer"),
        }),
        security=[{"bearer": []}],
    )
