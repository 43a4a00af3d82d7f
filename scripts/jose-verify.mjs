// Verifies an access token with jose (a JWT library that is not ours) against a served JWKS.
// Usage: node scripts/jose-verify.mjs JWKS_URL TOKEN ISSUER AUDIENCE
// Prints {protectedHeader, payload} and exits 0 when valid; exits 1 otherwise.
// jose is installed by `make tools` into .tools/node.
const jose = await import(new URL('../.tools/node/node_modules/jose/dist/webapi/index.js', import.meta.url))
  .catch(() => { console.error('jose is not installed: run `make tools`'); process.exit(2); });

const [jwksUrl, token, issuer, audience] = process.argv.slice(2);
try {
  const jwks = jose.createRemoteJWKSet(new URL(jwksUrl));
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['EdDSA'],
  });
  console.log(JSON.stringify({ protectedHeader, payload }));
} catch (err) {
  console.error(`jose rejected the token: ${err.code ?? ''} ${err.message}`);
  process.exit(1);
}
