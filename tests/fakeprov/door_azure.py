"""door_azure: Azure OpenAI's front door for fakeprov.

Routes (the resource endpoint is fakeprov's root):
  POST /openai/deployments/{deployment}/chat/completions?api-version=V
  POST /openai/v1/chat/completions      (the v1 API: no api-version; "model"
  POST /openai/v1/responses              names the deployment)

What Azure checks, as Azure answers it ({"error": {"code", "message"}}):
  the api-key header (--azure-key): 401, code "401";
  on the deployments path, api-version: missing -> 404 "Resource not found"
  (what Azure answers a URL without one), not one of AZURE_API_VERSIONS ->
  400 code "BadRequest", "API version not supported";
  the deployment (--azure-deployment NAME=MODEL, repeatable; default
  gpt-4o-prod=gpt-4o and gpt-5-prod=gpt-5): unknown -> 404 code
  "DeploymentNotFound".
A deployment is its model: the request is answered by fakeprov's OpenAI
model with "model" set to the deployment's model, so the ground-truth cache
is OpenAI's (entries under api "openai" in /_fake/state). Requests are
counted under "azure"; GET /_fake/state "doors"."azure" shows the deployments.
"""
import re

import fakeprov

AZURE_API_VERSIONS = ("2024-02-01", "2024-06-01", "2024-10-21", "2025-01-01-preview",
                      "2025-03-01-preview", "2025-04-01-preview", "preview")
DEPLOYMENT_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
V1_PATHS = {"/openai/v1/chat/completions": "openai", "/openai/v1/responses": "responses"}
DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
          "provide a valid key for an active subscription and use a correct regional API "
          "endpoint for your resource.")
NO_DEPLOYMENT = ("The API deployment for this resource does not exist. If you created the "
                 "deployment within the last 5 minutes, please wait a moment and try again.")


def azure_error(status, code, message):
    return status, {"error": {"code": code, "message": message}}, [], {}


class Door:
    name = "azure"

    @staticmethod
    def add_args(p):
        g = p.add_argument_group("azure", "Azure OpenAI door (/openai/...)")
        g.add_argument("--azure-key", default="fake-azure-key")
        g.add_argument("--azure-deployment", action="append", default=None, metavar="NAME=MODEL",
                       help="a deployment and its model (default gpt-4o-prod=gpt-4o, "
                            "gpt-5-prod=gpt-5)")

    def __init__(self, provider, cfg):
        self.provider = provider
        self.key = cfg.azure_key
        pairs = cfg.azure_deployment or ["gpt-4o-prod=gpt-4o", "gpt-5-prod=gpt-5"]
        self.deployments = dict(pair.split("=", 1) for pair in pairs)

    def owns(self, path):
        return path.startswith("/openai/")

    def reset(self):
        pass

    def state(self, now):
        return {"deployments": dict(self.deployments)}

    def answer(self, n, method, path, query, headers, raw, now):
        match = DEPLOYMENT_PATH.match(path)
        if not match and path not in V1_PATHS:
            return azure_error(404, "404", "Resource not found")
        if headers.get("api-key") != self.key:
            return azure_error(401, "401", DENIED)
        if method != "POST":
            return azure_error(405, "405", f"{method} is not allowed here")
        if match:
            versions = query.get("api-version")
            if not versions:
                return azure_error(404, "404", "Resource not found")
            if versions[-1] not in AZURE_API_VERSIONS:
                return azure_error(400, "BadRequest", "API version not supported")
        try:
            body = fakeprov.parse_json_object(raw)
            deployment = match.group(1) if match else body.get("model")
            if deployment not in self.deployments:
                return azure_error(404, "DeploymentNotFound", NO_DEPLOYMENT)
            body["model"] = self.deployments[deployment]
            api = "openai" if match else V1_PATHS[path]
            answer = (self.provider.openai_answer if api == "openai"
                      else self.provider.responses_answer)
            payload, summary = answer(n, body, now)
        except fakeprov.ApiError as err:
            return err.status, fakeprov.error_body("openai", err), [], {}
        return 200, payload, [], summary
