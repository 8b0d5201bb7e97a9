// Test-only OAuth2 authorization server for hookkit's end-to-end tests.
//
// Wraps the npm package oauth2-mock-server (pinned in package-lock.json): it
// listens on 127.0.0.1 on an ephemeral port, signs tokens with a freshly
// generated RS256 key, prints ONE line of JSON to stdout once listening,
//
//   {"issuer":"http://127.0.0.1:PORT","port":PORT}
//
// and exits when its stdin is closed (so a dying Go test never leaves it behind).
//
// Options (argv wins over env):
//   --audience=A    / OAUTH2MOCK_AUDIENCE=A   default "aud" of access tokens when the
//                                             request names none (comma-separated = several)
//   --scope=S       / OAUTH2MOCK_SCOPE=S      default "scope" of access tokens when the
//                                             request names none
//   --strict-introspection / OAUTH2MOCK_STRICT_INTROSPECTION=1
//                   make POST /introspect verify the token (signature with the
//                   server's keys, iss, exp, nbf) and answer RFC 7662 style; without
//                   it, the package answers {"active":true} for anything.
//
// Token requests may ask for an audience with any of the form parameters "aud"
// (native to oauth2-mock-server), "audience" or "resource" (added here).
//
// Token requests may also carry "exp_offset" (added here): an integer number of
// seconds, possibly negative, such as -120. The access token's "exp" is then
// now+exp_offset instead of the package's fixed now+3600; if that puts "iat" or
// "nbf" after "exp", both become exp-3600, so a negative offset yields a token
// that is simply expired. Invalid values (not a decimal integer, or repeated) are
// ignored. The token response's expires_in is left at the package's 3600.
import { createServer } from 'node:http';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

function parseArgs(argv, env) {
  const opts = {
    audience: env.OAUTH2MOCK_AUDIENCE || '',
    scope: env.OAUTH2MOCK_SCOPE || '',
    strictIntrospection: ['1', 'true', 'yes'].includes(
      (env.OAUTH2MOCK_STRICT_INTROSPECTION || '').toLowerCase(),
    ),
  };
  for (const arg of argv) {
    if (arg.startsWith('--audience=')) opts.audience = arg.slice('--audience='.length);
    else if (arg.startsWith('--scope=')) opts.scope = arg.slice('--scope='.length);
    else if (arg === '--strict-introspection') opts.strictIntrospection = true;
    else {
      process.stderr.write(`oauth2mock: unknown argument ${JSON.stringify(arg)}\n`);
      process.exit(2);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2), process.env);

// values returns the non-empty string values of a parsed form field
// (a string, or an array when the parameter was repeated).
function values(v) {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x) => typeof x === 'string' && x !== '');
}

// expOffsetOf returns the "exp_offset" form parameter as an integer number of
// seconds, or undefined when it is absent or not exactly one decimal integer.
function expOffsetOf(body) {
  const v = body.exp_offset;
  if (typeof v !== 'string' || !/^[+-]?\d{1,12}$/.test(v.trim())) return undefined;
  const n = Number.parseInt(v.trim(), 10);
  return Number.isSafeInteger(n) ? n : undefined;
}

function oneOrMany(list) {
  return list.length === 1 ? list[0] : list;
}

// clientIdOf returns the client id from HTTP Basic auth or the client_id form field.
function clientIdOf(req) {
  const h = req.headers.authorization || '';
  const m = /^Basic\s+(.+)$/i.exec(h);
  if (m) {
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const id = i >= 0 ? decoded.slice(0, i) : decoded;
    try {
      return decodeURIComponent(id.replace(/\+/g, ' '));
    } catch {
      return id;
    }
  }
  const body = req.body || {};
  return typeof body.client_id === 'string' ? body.client_id : undefined;
}

const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

// Access tokens always carry a "scope" key (possibly undefined) set by the package;
// id_tokens (non client_credentials grants) do not: only touch access tokens.
service.on('beforeTokenSigning', (token, req) => {
  const p = token.payload;
  if (!('scope' in p)) return;
  const body = req.body || {};
  if (p.aud === undefined) {
    const requested = [...values(body.audience), ...values(body.resource)];
    const fallback = opts.audience ? opts.audience.split(',').filter(Boolean) : [];
    const aud = requested.length > 0 ? requested : fallback;
    if (aud.length > 0) p.aud = oneOrMany(aud);
    else delete p.aud;
  }
  if (p.scope === undefined) {
    if (opts.scope) p.scope = opts.scope;
    else delete p.scope;
  }
  const expOffset = expOffsetOf(body);
  if (expOffset !== undefined) {
    p.exp = Math.floor(Date.now() / 1000) + expOffset;
    if ((typeof p.iat === 'number' && p.iat > p.exp) || (typeof p.nbf === 'number' && p.nbf > p.exp)) {
      p.iat = p.exp - 3600;
      p.nbf = p.exp - 3600;
    }
  }
  if (body.grant_type === 'client_credentials') {
    const clientId = clientIdOf(req);
    if (clientId) {
      p.client_id = clientId;
      if (p.sub === undefined) p.sub = clientId; // RFC 9068: sub = client for client_credentials
    }
  }
});

// Keep the token response's "scope" in step with a defaulted scope claim.
service.on('beforeResponse', (response, req) => {
  const body = req.body || {};
  if (response.body.scope === undefined && body.grant_type === 'client_credentials' && opts.scope) {
    response.body.scope = opts.scope;
  }
});

function b64urlJSON(s) {
  return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
}

// introspect verifies a token issued by this server; returns the RFC 7662 response.
function introspect(token) {
  const inactive = { active: false };
  if (typeof token !== 'string') return inactive;
  const parts = token.split('.');
  if (parts.length !== 3) return inactive;
  let header;
  let payload;
  try {
    header = b64urlJSON(parts[0]);
    payload = b64urlJSON(parts[1]);
  } catch {
    return inactive;
  }
  if (header.alg !== 'RS256') return inactive;
  const jwk = issuer.keys.toJSON().find((k) => k.kid === header.kid);
  if (!jwk) return inactive;
  const ok = cryptoVerify(
    'sha256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    createPublicKey({ key: jwk, format: 'jwk' }),
    Buffer.from(parts[2], 'base64url'),
  );
  if (!ok) return inactive;
  const now = Math.floor(Date.now() / 1000);
  if (payload.iss !== issuer.url) return inactive;
  if (typeof payload.exp === 'number' && now >= payload.exp) return inactive;
  if (typeof payload.nbf === 'number' && now < payload.nbf) return inactive;
  const out = { active: true, token_type: 'Bearer' };
  for (const k of ['scope', 'client_id', 'sub', 'aud', 'iss', 'exp', 'iat', 'nbf', 'username']) {
    if (payload[k] !== undefined) out[k] = payload[k];
  }
  return out;
}

if (opts.strictIntrospection) {
  service.on('beforeIntrospect', (response, req) => {
    const form = req.oauth2mockForm;
    const token = form ? form.get('token') : (req.body || {}).token;
    response.statusCode = 200;
    response.body = introspect(token);
  });
}

const handler = service.requestHandler;
const server = createServer((req, res) => {
  // The package parses only JSON bodies on /introspect, but RFC 7662 clients send
  // application/x-www-form-urlencoded: read the form here and hand it to the
  // beforeIntrospect listener above. Everything else goes straight to the package.
  const path = (req.url || '').split('?')[0];
  const isForm = /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] || '');
  if (opts.strictIntrospection && req.method === 'POST' && path === '/introspect' && isForm) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      req.oauth2mockForm = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      handler(req, res);
    });
    req.on('error', () => res.destroy());
    return;
  }
  handler(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  // oauth2-mock-server would name the issuer http://localhost:PORT, which may
  // resolve to ::1 where nothing listens: pin it to the address we bound.
  issuer.url = `http://127.0.0.1:${port}`;
  process.stdout.write(`${JSON.stringify({ issuer: issuer.url, port })}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`oauth2mock: ${err.stack || err}\n`);
  process.exit(1);
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
