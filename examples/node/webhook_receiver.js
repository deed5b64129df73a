// A receiver for Sesame's event callbacks (webhooks) that checks each one's signature before
// trusting it. Node.js standard library only.
//
//   node webhook_receiver.js
//
// then point a callback at it (CreateCallbackAddress with CallbackUrl http://<host>:<port>/).
//
// Environment:
//   SESAME_WEBHOOK_SECRET   the SigningSecret shown by the account's first CreateCallbackAddress
//                           (or by RotateCallbackSecret)
//   SESAME_WEBHOOK_HOST     address to listen on, default 127.0.0.1
//   SESAME_WEBHOOK_PORT     port to listen on, default 8000
//
// Each verified event is printed as one JSON line on stdout and answered 204; anything else is
// answered 401 and not parsed. X-Sesame-Event-Id is the same on every retry of one event: use it
// to drop duplicates (delivery is at least once).
const crypto = require("node:crypto");
const http = require("node:http");

const secret = process.env.SESAME_WEBHOOK_SECRET;
const TOLERANCE = 300; // seconds: refuse old (replayed) or future timestamps

// X-Sesame-Signature is "v1=" + hex HMAC-SHA256(secret, timestamp + "." + raw body).
function verify(timestamp, signature, body) {
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE) {
    return false;
  }
  const mac = crypto.createHmac("sha256", secret).update(`${timestamp}.`).update(body);
  const expected = Buffer.from("v1=" + mac.digest("hex"));
  const given = Buffer.from(signature);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks); // the raw bytes: verify before parsing
    if (!verify(req.headers["x-sesame-timestamp"] || "", req.headers["x-sesame-signature"] || "", body)) {
      console.error("rejected: bad signature");
      res.writeHead(401).end();
      return;
    }
    const event = JSON.parse(body);
    event._eventId = req.headers["x-sesame-event-id"];
    console.log(JSON.stringify(event));
    res.writeHead(204).end();
  });
});

const host = process.env.SESAME_WEBHOOK_HOST || "127.0.0.1";
const port = Number(process.env.SESAME_WEBHOOK_PORT || 8000);
server.listen(port, host, () => console.error(`listening on http://${host}:${port}/`));
