// Keep a conversation's prompt cache warm with warmd while it is in use.
//
//   node session_keep.mjs keep NAME PROVIDER BODY.json [FOR]   (FOR: "20m", or seconds)
//   node session_keep.mjs drop NAME
//
// NAME is the session ("support:42"), PROVIDER one of warmd.conf's, BODY.json
// the request body the application will send next, breakpoints included.
// The socket is $WARMD_SOCKET, else /run/warmd/control.sock. An agent loop
// calls keep() before a long tool call (FOR: the tool's timeout and a
// margin), and drop() when its task is over. No library: one JSON line out,
// one back (docs/protocol.md).
import { readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";

// Sends one request to warmd's control socket; resolves with its data.
export function warmd(request) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(process.env.WARMD_SOCKET || "/run/warmd/control.sock");
    let text = "";
    s.setEncoding("utf8");
    s.on("connect", () => s.write(JSON.stringify(request) + "\n"));
    s.on("data", (chunk) => {
      text += chunk;
      if (!text.includes("\n")) return;
      s.end();
      const answer = JSON.parse(text.slice(0, text.indexOf("\n")));
      if (answer.ok) resolve(answer.data);
      else reject(new Error(`${answer.error.code}: ${answer.error.message}`));
    });
    s.on("end", () => reject(new Error("warmd closed the connection without an answer")));
    s.on("error", reject);
  });
}

// Keeps the conversation in body (an object, or its JSON text) warm for keepFor.
export const keep = (name, provider, body, keepFor = "20m") =>
  warmd({ cmd: "keep", target: name, provider, for: keepFor,
          body: typeof body === "string" ? body : JSON.stringify(body) });

// The conversation is over: no further warm.
export const drop = (name) => warmd({ cmd: "drop", target: name });

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, name, provider, file, keepFor] = process.argv.slice(2);
  const run = cmd === "keep" && file ? keep(name, provider, readFileSync(file, "utf8"), keepFor)
            : cmd === "drop" && name ? drop(name)
            : Promise.reject(new Error("usage: session_keep.mjs keep NAME PROVIDER BODY.json [FOR] | drop NAME"));
  run.then((data) => console.log(data.message))
     .catch((err) => { console.error(`session_keep: ${err.message}`); process.exit(1); });
}
