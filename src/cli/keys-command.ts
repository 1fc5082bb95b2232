import { UnreachableError, callTrellis, type RemoteOptions } from './rest-client.js';

export async function runKeys(args: string[], options: RemoteOptions & { name?: string | undefined; scopes?: string | undefined; patterns?: string | undefined }): Promise<number> {
  if (args[0] !== 'create' || !options.name || !options.scopes) {
    console.error('usage: trellis keys create --name NAME --scopes read,write,serve,admin [--patterns fraud_*,risk_*]');
    return 2;
  }
  try {
    const res = await callTrellis(options, 'POST', '/v1/keys', {
      name: options.name,
      scopes: options.scopes.split(',').map((s) => s.trim()),
      ...(options.patterns ? { patterns: options.patterns.split(',').map((s) => s.trim()) } : {}),
    });
    if (res.status !== 201) {
      console.error(`${res.body?.error?.code ?? res.status}: ${res.body?.error?.message ?? ''}`);
      return res.status === 400 ? 1 : 3;
    }
    console.log(res.body.key);
    console.error(`created key ${res.body.info.keyId} (${res.body.info.scopes.join(', ')}); it is shown only once`);
    return 0;
  } catch (error) {
    if (error instanceof UnreachableError) {
      console.error(error.message);
      return 3;
    }
    throw error;
  }
}
