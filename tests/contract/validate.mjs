// validate.mjs: every OpenAI request shape warmd emits must validate against
// the official OpenAPI schema (docs/providers.md), for kind openai and for
// kind azure-openai (the same API under Azure's paths). For each case in
// tests/fixtures/contract/cases.json it validates the template (a realistic
// application request: if that is invalid the fixture is broken), runs
// warmbody to get the warm body warmd would send, checks it went to the
// endpoint the case expects, that warmd changed only what docs/providers.md
// ("Building a warm from a template") lets it change,
// and validates it with ajv against CreateChatCompletionRequest or
// CreateResponse.
//
//   WARMBODY_BIN=build/tests/warmbody node tests/contract/validate.mjs [CASE...]
//
// Environment: WARMBODY_BIN (required), WARMD_OPENAPI_SPEC (default
// tests/contract/spec/openai-openapi.yaml.gz, the copy kept in the
// repository; a plain .yaml works too), WARMD_CONTRACT_VERBOSE=1 to
// print every warm body, WARMD_CONTRACT_STRICT=1 to fail (not warn) when
// warmd adds a property the spec does not declare.
//
// Exit 0: all pass; 1: a case or fixture failed; 2: usage or setup error;
// 77: skipped (`npm ci` not run in tests/contract).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const FIXTURES = join(REPO, "tests", "fixtures", "contract");
const SPEC_ID = "https://warmd.invalid/openai-openapi.json";
const SKIP = 77;

// Where each schema's warm goes, and what warmd may change in it
// (docs/providers.md, "Building a warm from a template"): the
// output budget, stream (and stream_options, only valid with stream), the
// configured cache key, the native prewarm option, and turns appended after
// the conversation.
const SCHEMAS = {
  CreateChatCompletionRequest: {
    path: "/chat/completions",
    conversation: "messages",
    editable: ["max_tokens", "max_completion_tokens", "stream", "stream_options", "prompt_cache_key"],
  },
  CreateResponse: {
    path: "/responses",
    conversation: "input",
    editable: ["max_output_tokens", "stream", "stream_options", "prompt_cache_key", "prompt_cache_options"],
  },
};

function skip(msg) {
  console.log(`SKIP: ${msg}`);
  process.exit(SKIP);
}

function die(msg) {
  console.error(`validate.mjs: ${msg}`);
  process.exit(2);
}

const specPath =
  process.env.WARMD_OPENAPI_SPEC || join(HERE, "spec", "openai-openapi.yaml.gz");
// The spec is part of the repository: a missing one is a broken checkout, not a skip.
if (!existsSync(specPath)) die(`OpenAI spec not found at ${specPath}`);
if (!existsSync(join(HERE, "node_modules"))) skip("run npm ci in tests/contract");

let Ajv2020, addFormats, YAML;
try {
  Ajv2020 = (await import("ajv/dist/2020.js")).default;
  addFormats = (await import("ajv-formats")).default;
  YAML = await import("yaml");
} catch (err) {
  skip(`run npm ci in tests/contract (${err.code || err.message})`);
}

// --bodies FILE: validate bodies captured elsewhere (the integration tests
// pass what the fake provider received) instead of running the cases.
const bodiesArg = process.argv.indexOf("--bodies");
const bodiesFile = bodiesArg >= 0 ? process.argv[bodiesArg + 1] : null;
if (bodiesArg >= 0 && !bodiesFile) die("--bodies needs a file");
const bin = process.env.WARMBODY_BIN;
if (!bodiesFile) {
  if (!bin) die("set WARMBODY_BIN to the warmbody program (built by the warmbody CMake target)");
  if (!existsSync(bin)) die(`WARMBODY_BIN ${bin} does not exist`);
}

// ---- the spec -------------------------------------------------------------

const specRaw = readFileSync(specPath);
const specText = (specPath.endsWith(".gz") ? gunzipSync(specRaw) : specRaw).toString("utf8");
const spec = YAML.parse(specText, { maxAliasCount: -1 });
if (!spec?.components?.schemas) die(`${specPath} has no components.schemas: not an OpenAPI document`);
for (const name of Object.keys(SCHEMAS)) {
  if (!spec.components.schemas[name]) die(`${specPath} has no components.schemas.${name}`);
}

// OpenAPI 3.0's nullable survives in this 3.1 document. It means "null is
// allowed too"; ajv only understands it next to a type (and throws
// otherwise), so turn every one into the JSON Schema spelling.
function normalizeNullable(node) {
  if (Array.isArray(node)) return node.forEach(normalizeNullable);
  if (!node || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    // Instance data (examples, defaults, enums) and extensions are not schemas.
    const data = ["example", "examples", "default", "enum", "const"].includes(k);
    if (!data && !k.startsWith("x-")) normalizeNullable(v);
  }
  if (typeof node.nullable !== "boolean") return;
  const nullable = node.nullable;
  delete node.nullable;
  if (!nullable) return;
  const rest = { ...node };
  for (const k of Object.keys(node)) delete node[k];
  for (const k of ["title", "description", "deprecated"]) if (k in rest) node[k] = rest[k];
  node.anyOf = [rest, { type: "null" }];
}
normalizeNullable(spec.components);

// Where the spec's own oneOf rejects requests its documentation shows (and
// the API accepts), the union is read as anyOf. Each erratum says why; none
// touches a shape warmd itself adds. One that no longer matches the spec is
// reported, so that it can be dropped.
const SPEC_ERRATA = [
  {
    schema: "InputItem",
    why:
      "a message {role:user, content:[{type:input_text...}]} (the documented shape) is both an " +
      "EasyInputMessage and an Item/InputMessage, the same message described twice",
  },
];
const errataNotes = [];
for (const { schema, why } of SPEC_ERRATA) {
  const s = spec.components.schemas[schema];
  if (s && Array.isArray(s.oneOf) && !s.anyOf) {
    s.anyOf = s.oneOf;
    delete s.oneOf;
    errataNotes.push(`erratum: ${schema} oneOf read as anyOf: ${why}`);
  } else {
    errataNotes.push(`erratum no longer applies (drop it): ${schema} has no oneOf`);
  }
}

// Other OpenAPI keywords (discriminator, example, x-*) are not JSON Schema:
// strict:false makes ajv ignore what it does not know instead of refusing the
// schema. The spec document itself is not a schema, so it is not
// checked against the meta-schema; its component schemas are compiled on
// demand through JSON pointers into it.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, logger: false });
addFormats(ajv);
// Formats ajv-formats does not know (binary, int64...) constrain nothing here.
for (const f of collectFormats(spec.components)) {
  if (!ajv.formats[f]) ajv.addFormat(f, true);
}
ajv.addSchema(spec, SPEC_ID);

const validators = new Map();
function validator(name) {
  if (!validators.has(name))
    validators.set(name, ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/${name}` }));
  return validators.get(name);
}

function collectFormats(node, out = new Set()) {
  if (Array.isArray(node)) node.forEach((n) => collectFormats(n, out));
  else if (node && typeof node === "object") {
    if (typeof node.format === "string") out.add(node.format);
    Object.values(node).forEach((n) => collectFormats(n, out));
  }
  return out;
}

// ajv reports every failed branch of every oneOf. What explains a failure is
// nearly always a specific error (a missing or mistyped property) deep in the
// branch the value was meant for; "role/type is not X" from the other
// branches, and the oneOf/anyOf summaries, come last.
function errorRank(e) {
  if (["oneOf", "anyOf"].includes(e.keyword)) return 2;
  if (["enum", "const"].includes(e.keyword) && /\/(role|type)$/.test(e.instancePath)) return 1;
  if (e.keyword === "type" && e.params?.type === "null") return 1; // the null branch of "X or null"
  return 0;
}
function formatErrors(errors, max = 8) {
  const depth = (e) => e.instancePath.split("/").length;
  const sorted = [...errors].sort((a, b) => errorRank(a) - errorRank(b) || depth(b) - depth(a));
  const lines = sorted.slice(0, max).map((e) => {
    const params = Object.keys(e.params || {}).length ? ` ${JSON.stringify(e.params)}` : "";
    return `      ${e.instancePath || "/"} ${e.message}${params} (${e.schemaPath})`;
  });
  if (sorted.length > max) lines.push(`      ... and ${sorted.length - max} more`);
  return lines.join("\n");
}

// ---- properties the spec does not declare -------------------------------
// The schemas leave objects open (no additionalProperties:false), so an
// invented field validates. A field warmd adds must at least be one the spec
// names: report any other (a WARN, since the schema itself accepts it).

function deref(s) {
  if (!s || typeof s !== "object" || typeof s.$ref !== "string") return null;
  const m = s.$ref.match(/^#\/components\/schemas\/(.+)$/);
  return m ? spec.components.schemas[decodeURIComponent(m[1])] : null;
}

// The schema and every schema it is composed of ($ref, allOf, anyOf, oneOf).
function branches(s, out = [], seen = new Set()) {
  if (!s || typeof s !== "object" || seen.has(s)) return out;
  seen.add(s);
  out.push(s);
  branches(deref(s), out, seen);
  for (const k of ["allOf", "anyOf", "oneOf"]) (s[k] || []).forEach((b) => branches(b, out, seen));
  return out;
}

// Schemas that may apply at path (property names and array indexes) under
// root; null when some object on the way does not declare the property.
function schemasAt(root, path) {
  let cur = [root];
  for (const seg of path) {
    const next = [];
    let open = false;
    for (const s of cur.flatMap((c) => branches(c))) {
      if (typeof seg === "number") {
        if (s.items && typeof s.items === "object") next.push(s.items);
        if (Array.isArray(s.prefixItems) && s.prefixItems[seg]) next.push(s.prefixItems[seg]);
      } else if (s.properties && s.properties[seg]) {
        next.push(s.properties[seg]);
      } else if (
        s.additionalProperties === true ||
        typeof s.additionalProperties === "object" ||
        s.patternProperties
      ) {
        open = true; // a map: any key is declared
      }
    }
    if (next.length === 0) return open ? [] : null;
    cur = next;
  }
  return cur;
}

// Paths of every property in body that is not in template (inside objects
// both have, and inside array items appended after the template's).
function addedPaths(tmpl, body, path = [], out = []) {
  if (Array.isArray(body)) {
    const t = Array.isArray(tmpl) ? tmpl : [];
    body.forEach((v, i) => addedPaths(i < t.length ? t[i] : undefined, v, [...path, i], out));
  } else if (body && typeof body === "object") {
    const t = tmpl && typeof tmpl === "object" && !Array.isArray(tmpl) ? tmpl : {};
    for (const [k, v] of Object.entries(body)) {
      if (!(k in t)) out.push([...path, k]);
      addedPaths(t[k], v, [...path, k], out);
    }
  }
  return out;
}

function undeclaredAdditions(schemaName, tmpl, body) {
  const root = spec.components.schemas[schemaName];
  return addedPaths(tmpl, body)
    .filter((p) => schemasAt(root, p) === null)
    .map((p) => p.join("."));
}

// ---- what warmd changed ---------------------------------------------------

// docs/providers.md: warmd changes only the fields in SCHEMAS[..].editable and appends turns
// after the conversation; everything else must be byte-for-byte the
// application's (as JSON values).
function illegalEdits(schemaName, tmpl, body) {
  const { editable, conversation } = SCHEMAS[schemaName];
  const problems = [];
  for (const k of new Set([...Object.keys(tmpl), ...Object.keys(body)])) {
    if (editable.includes(k)) continue;
    if (k === conversation && Array.isArray(tmpl[k]) && Array.isArray(body[k])) {
      const kept = body[k].slice(0, tmpl[k].length);
      if (body[k].length < tmpl[k].length || !isDeepStrictEqual(kept, tmpl[k]))
        problems.push(`${k}: the template's turns were changed`);
      continue;
    }
    if (k === conversation && typeof tmpl[k] === "string") {
      // A string input is one user turn: nothing to append, sent as is.
      if (!isDeepStrictEqual(tmpl[k], body[k])) problems.push(`${k}: the string input was changed`);
      continue;
    }
    if (!(k in body)) problems.push(`${k}: removed`);
    else if (!(k in tmpl)) problems.push(`${k}: added`);
    else if (!isDeepStrictEqual(tmpl[k], body[k])) problems.push(`${k}: changed`);
  }
  if (body.stream === true) problems.push("stream: still true (warmd must send stream:false)");
  // The schema allows it, the API does not: "stream_options" needs stream:true.
  if ("stream_options" in body && body.stream_options !== null && body.stream !== true)
    problems.push("stream_options: sent without stream:true (the API rejects it)");
  return problems;
}

// The minimal output budget (docs/providers.md): chat sets max_tokens or
// max_completion_tokens (both, if the template has both) to 1. A null field
// is one the request does not set: the API's default applies.
function budgetProblems(schemaName, body) {
  if (schemaName === "CreateResponse") {
    const got = body.max_output_tokens;
    return got === 16 ? [] : [`max_output_tokens is ${JSON.stringify(got)}, not 16`];
  }
  const set = ["max_tokens", "max_completion_tokens"].filter((k) => body[k] != null);
  if (set.length === 0) return ["neither max_tokens nor max_completion_tokens is set"];
  return set.filter((k) => body[k] !== 1).map((k) => `${k} is ${JSON.stringify(body[k])}, not 1`);
}

// ---- the cases ------------------------------------------------------------

// FILE is a JSON array of {"name", "schema", "body"}; each body must be a
// valid instance of its schema, with a minimal output budget.
if (bodiesFile) {
  let items;
  try {
    items = JSON.parse(readFileSync(bodiesFile, "utf8"));
  } catch (err) {
    die(`${bodiesFile}: ${err.message}`);
  }
  if (!Array.isArray(items) || items.length === 0) die(`${bodiesFile}: want a non-empty array`);
  let bad = 0;
  for (const { name, schema, body } of items) {
    if (!SCHEMAS[schema]) die(`${bodiesFile}: ${name}: unknown schema ${schema}`);
    const validate = validator(schema);
    const problems = budgetProblems(schema, body);
    if (!validate(body) || problems.length) {
      bad++;
      console.log(`FAIL ${name} -> ${schema}`);
      problems.forEach((p) => console.log(`      ${p}`));
      if (validate.errors) console.log(formatErrors(validate.errors));
    } else {
      console.log(`PASS ${name} -> ${schema}`);
    }
  }
  process.exit(bad ? 1 : 0);
}

const manifest = JSON.parse(readFileSync(join(FIXTURES, "cases.json"), "utf8"));
const only = process.argv.slice(2);
const cases = manifest.cases.filter((c) => only.length === 0 || only.includes(c.name));
if (only.length && cases.length !== only.length) die(`unknown case in ${only.join(" ")}`);
const verbose = process.env.WARMD_CONTRACT_VERBOSE === "1";
const strict = process.env.WARMD_CONTRACT_STRICT === "1";
let failed = 0; // FAIL and FIXTURE-BROKEN lines
const fail = (line) => {
  failed++;
  console.log(line);
};

console.log(`spec: ${specPath} (OpenAPI ${spec.openapi}, API ${spec.info?.version})`);
errataNotes.forEach((n) => console.log(n));

// The manifest must cover every fixture, and every case must name a real
// fixture and a known schema: a fixture nobody runs proves nothing.
const names = new Set();
for (const c of manifest.cases) {
  if (names.has(c.name)) fail(`FAIL manifest: case name ${c.name} is used twice`);
  names.add(c.name);
  if (!SCHEMAS[c.schema]) fail(`FAIL manifest: case ${c.name}: unknown schema ${c.schema}`);
  if (!existsSync(join(FIXTURES, c.file))) fail(`FAIL manifest: case ${c.name}: no fixture ${c.file}`);
}
for (const f of readdirSync(FIXTURES).filter((f) => f.endsWith(".json") && f !== "cases.json")) {
  if (!manifest.cases.some((c) => c.file === f)) fail(`FAIL manifest: fixture ${f} is in no case`);
}
if (failed) process.exit(1);

// Templates first: a template the spec rejects is a broken fixture, and
// would make any verdict on its warm body meaningless.
const brokenFixtures = new Set();
const templates = new Map();
for (const c of cases) {
  const key = `${c.file}\0${c.schema}`;
  if (templates.has(key)) continue;
  let tmpl;
  try {
    tmpl = JSON.parse(readFileSync(join(FIXTURES, c.file), "utf8"));
  } catch (err) {
    fail(`FIXTURE-BROKEN ${c.file}: not JSON: ${err.message}`);
    brokenFixtures.add(c.file);
    continue;
  }
  templates.set(key, tmpl);
  const validate = validator(c.schema);
  if (!validate(tmpl)) {
    fail(`FIXTURE-BROKEN ${c.file}: the template itself is not a valid ${c.schema}\n` +
      formatErrors(validate.errors));
    brokenFixtures.add(c.file);
  }
}

for (const c of cases) {
  if (brokenFixtures.has(c.file)) {
    fail(`FAIL ${c.name}: fixture ${c.file} is broken (see above)`);
    continue;
  }
  const args = ["--print-url", "--kind", c.kind, "--endpoint", c.endpoint || "auto",
    ...(c.args || []), join(FIXTURES, c.file)];
  const run = spawnSync(bin, args, { encoding: "utf8", timeout: 30000, maxBuffer: 64 << 20 });
  if (run.error || run.status !== 0) {
    const why = run.error ? run.error.message : `exit ${run.status ?? run.signal}`;
    fail(`FAIL ${c.name}: warmbody ${args.join(" ")}: ${why}\n      ${(run.stderr || "").trim()}`);
    continue;
  }
  const nl = run.stdout.indexOf("\n");
  const url = run.stdout.slice(0, nl);
  let body;
  try {
    body = JSON.parse(run.stdout.slice(nl + 1));
  } catch (err) {
    fail(`FAIL ${c.name}: warmbody printed no JSON body: ${err.message}`);
    continue;
  }
  if (verbose) console.log(`      ${url}\n      ${JSON.stringify(body)}`);

  const problems = [];
  const { path } = SCHEMAS[c.schema];
  // Azure's deployments path carries ?api-version=...: the path is what counts.
  if (!new URL(url).pathname.endsWith(path))
    problems.push(`sent to ${url}, but a ${c.schema} goes to ${path}`);
  const tmpl = templates.get(`${c.file}\0${c.schema}`);
  problems.push(...illegalEdits(c.schema, tmpl, body), ...budgetProblems(c.schema, body));
  for (const [k, v] of Object.entries(c.expect || {})) {
    // "messages.-1.role": a negative index counts from the end of an array.
    const step = (o, p) => (o == null ? undefined
      : Array.isArray(o) && /^-\d+$/.test(p) ? o[o.length + Number(p)] : o[p]);
    const got = k.split(".").reduce(step, body);
    if (!isDeepStrictEqual(got, v))
      problems.push(`expected ${k} = ${JSON.stringify(v)}, got ${JSON.stringify(got)}`);
  }
  const validate = validator(c.schema);
  const valid = validate(body);
  if (!valid || problems.length) {
    const lines = [`FAIL ${c.name} (${c.file} -> ${c.schema})`];
    problems.forEach((p) => lines.push(`      ${p}`));
    if (!valid) lines.push(formatErrors(validate.errors));
    fail(lines.join("\n"));
    continue;
  }
  const undeclared = undeclaredAdditions(c.schema, tmpl, body);
  if (strict && undeclared.length) {
    const lines = undeclared.map((p) => `      warmd adds ${p}, which ${c.schema} does not declare`);
    fail(`FAIL ${c.name} (${c.file} -> ${c.schema})\n${lines.join("\n")}`);
    continue;
  }
  console.log(`PASS ${c.name} (${c.file} -> ${c.schema})`);
  for (const p of undeclared) {
    console.log(`      WARN warmd adds ${p}, which ${c.schema} does not declare ` +
      "(the open schema accepts it; the API may not)");
  }
}

const brokenNote = brokenFixtures.size ? ` (${brokenFixtures.size} broken fixtures)` : "";
const failedCases = failed - brokenFixtures.size;
console.log(failed ? `${failedCases} of ${cases.length} cases failed${brokenNote}` : `all ${cases.length} cases passed`);
process.exit(failed ? 1 : 0);
