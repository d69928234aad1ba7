// A real OpenID Provider (panva/oidc-provider, OpenID Certified) for the hub's OpenID Connect
// sign-in tests. Usage: node provider.mjs PORT REDIRECT_URI ACCOUNTS_JSON
// ACCOUNTS_JSON maps a login to its claims, e.g. {"laia": {"email": "...", "name": "...", "hub_role": "manager"}}.
// The provider's development login and consent pages accept any password for a listed login.
import Provider from 'oidc-provider';

const [port, redirectUri, accountsJson] = process.argv.slice(2);
const accounts = JSON.parse(accountsJson);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'contact-hub',
    client_secret: 'contact-hub-test-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'hub'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], hub: ['hub_role'] },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return { accountId: id, async claims() { return { sub: id, email_verified: true, ...accounts[id] }; } };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['contact-hub-test-cookie-key'] },
});
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
