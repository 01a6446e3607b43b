// Ed25519 through WebCrypto (crypto.subtle), exactly the calls WebCryptoSigner/Verifier make
// under Pyodide. Reads {seed, messages, checks} as JSON on stdin; prints
// {public_key, signatures, verified} as JSON. All binary values are hex.
const PKCS8_PREFIX = "302e020100300506032b657004220420";
const hex = (u8) => Buffer.from(u8).toString("hex");
const bin = (h) => new Uint8Array(Buffer.from(h, "hex"));

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { seed, messages, checks } = JSON.parse(input);
const alg = { name: "Ed25519" };
const priv = await crypto.subtle.importKey("pkcs8", bin(PKCS8_PREFIX + seed), alg, true, ["sign"]);
const jwk = await crypto.subtle.exportKey("jwk", priv);
const publicKey = Buffer.from(jwk.x, "base64url").toString("hex");
const signatures = [];
for (const m of messages) signatures.push(hex(new Uint8Array(await crypto.subtle.sign(alg, priv, bin(m)))));
const verified = [];
for (const c of checks) {
  const pub = await crypto.subtle.importKey("raw", bin(c.public_key), alg, false, ["verify"]);
  verified.push(await crypto.subtle.verify(alg, pub, bin(c.signature), bin(c.message)));
}
process.stdout.write(JSON.stringify({ public_key: publicKey, signatures, verified }));
