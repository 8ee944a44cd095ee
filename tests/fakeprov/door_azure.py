"""door_azure: Azure OpenAI's front door for fakeprov.

Routes (the resource endpoint is fakeprov's root; every path under
/openai/ is the door's, api "azure"):
  POST /openai/deployments/{deployment}/chat/completions?api-version=V
  POST /openai/v1/chat/completions      (the v1 API: no api-version; "model"
  POST /openai/v1/responses              names the deployment)

What Azure checks, as Azure answers it ({"error": {"code", "message"}}):
  another path under /openai/ -> 404 "Resource not found";
  the api-key header (--azure-key): 401, code "401";
  a method other than POST -> 405;
  on the deployments path, api-version: missing -> 404 "Resource not found"
  (what Azure answers a URL without one), not one of AZURE_API_VERSIONS ->
  400 code "BadRequest", "API version not supported";
  the deployment (--azure-deployment NAME=MODEL, repeatable; default
  gpt-4o-prod=gpt-4o and gpt-5-prod=gpt-5): unknown -> 404 code
  "DeploymentNotFound".
A deployment is its model: the request is answered by fakeprov's OpenAI
model with "model" set to the deployment's model, so the ground-truth cache
is OpenAI's (entries under api "openai" in /_fake/state), and so are its
400s (OpenAI's error shape). Faults are drawn as on OpenAI's routes and
answered as Azure does. Requests are counted under "azure"; GET /_fake/state
"doors"."azure" shows them and the deployments.
"""
import re

AZURE_API_VERSIONS = ("2024-02-01", "2024-06-01", "2024-10-21", "2025-01-01-preview",
                      "2025-03-01-preview", "2025-04-01-preview", "preview")
DEPLOYMENT_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
V1_PATHS = {"/openai/v1/chat/completions": "openai", "/openai/v1/responses": "responses"}
AZURE = "azure"                  # the kind of Azure's own errors: {"code", "message"}
DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
          "provide a valid key for an active subscription and use a correct regional API "
          "endpoint for your resource.")
NO_DEPLOYMENT = ("The API deployment for this resource does not exist. If you created the "
                 "deployment within the last 5 minutes, please wait a moment and try again.")
RATE_LIMITED = ("Requests to the ChatCompletions_Create Operation under Azure OpenAI API have "
                "exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry "
                "after 1 second.")


class AzureDoor:
    name = "azure"
    apis = ("azure",)
    auth_apis = ()
    fake_routes = {}

    def __init__(self, fp):
        self.fp = fp
        self.methods = fp.HTTP_METHODS            # a wrong method is answered below
        self.fault_errors = {
            "429": self.error(429, "429", RATE_LIMITED),
            "rate_limited": self.error(429, "429", RATE_LIMITED),
            "spend_limit": self.error(429, "insufficient_quota", "You exceeded your current "
                                      "quota, please check your plan and billing details."),
            "500": self.error(500, "InternalServerError", "The server had an error while "
                              "processing your request. Sorry about that!"),
            "529": self.error(503, "ServiceUnavailable", "The service is temporarily unable "
                              "to process your request. Please try again later."),
            "rejected_key": self.error(401, "401", DENIED),
        }

    def error(self, status, code, message):
        return self.fp.ApiError(status, message, kind=AZURE, code=code)

    # -- wiring

    def route(self, path):
        return "azure" if path.startswith("/openai/") else None

    def add_args(self, p):
        g = p.add_argument_group("azure", "Azure OpenAI door (/openai/...)")
        g.add_argument("--azure-key", default="fake-azure-key")
        g.add_argument("--azure-deployment", action="append", default=None, metavar="NAME=MODEL",
                       help="a deployment and its model (default gpt-4o-prod=gpt-4o, "
                            "gpt-5-prod=gpt-5)")

    def setup(self, provider):
        pairs = provider.cfg.azure_deployment or ["gpt-4o-prod=gpt-4o", "gpt-5-prod=gpt-5"]
        provider.azure = {"key": provider.cfg.azure_key,
                          "deployments": dict(pair.split("=", 1) for pair in pairs)}

    def reset(self, provider):
        pass    # the key and deployments are configuration, not state

    def state(self, provider):
        return {"deployments": dict(provider.azure["deployments"])}

    def presented_key(self, headers):
        return headers.get("api-key") or ""

    def error_body(self, api, err):
        if err.kind == AZURE:
            return {"error": {"code": err.code, "message": err.message}}
        return self.fp.error_body("openai", err)

    def error_headers(self, api, err):
        return []

    # -- a request

    def answer(self, provider, api, n, method, path, query, headers, raw, now):
        match = DEPLOYMENT_PATH.match(path)
        if not match and path not in V1_PATHS:
            raise self.error(404, "404", "Resource not found")
        if headers.get("api-key") != provider.azure["key"]:
            raise self.error(401, "401", DENIED)
        if method != "POST":
            raise self.error(405, "405", f"{method} is not allowed here")
        if match:
            version = self.fp.query_value(query, "api-version")
            if version is None:
                raise self.error(404, "404", "Resource not found")
            if version not in AZURE_API_VERSIONS:
                raise self.error(400, "BadRequest", "API version not supported")
        body = self.fp.parse_json_object(raw)
        deployments = provider.azure["deployments"]
        deployment = match.group(1) if match else body.get("model")
        if deployment not in deployments:
            raise self.error(404, "DeploymentNotFound", NO_DEPLOYMENT)
        body["model"] = deployments[deployment]
        if not match and V1_PATHS[path] == "responses":
            return provider.responses_answer(n, body, now)
        return provider.openai_answer(n, body, now)


def make(fp):
    return AzureDoor(fp)
