import { AdapterCatalogue, type AdapterRegistration } from './spi/adapter-registration.js';

const pending = (id: string) => async () => {
  throw new Error(`the ${id} adapter is registered for validation only in this build`);
};

/** Built-in provider types. Factories are wired as each adapter lands. */
export function builtinAdapters(): AdapterCatalogue {
  const catalogue = new AdapterCatalogue();
  const builtins: AdapterRegistration[] = [
    { kind: 'trellis.adapter', id: 'postgres', roles: ['offline'], createOffline: pending('postgres') },
    { kind: 'trellis.adapter', id: 'duckdb', roles: ['offline'], createOffline: pending('duckdb') },
    { kind: 'trellis.adapter', id: 'snowflake', roles: ['offline'], createOffline: pending('snowflake') },
    { kind: 'trellis.adapter', id: 'bigquery', roles: ['offline'], createOffline: pending('bigquery') },
    { kind: 'trellis.adapter', id: 'redis', roles: ['online'], createOnline: pending('redis') },
    { kind: 'trellis.adapter', id: 'embedded', roles: ['online'], createOnline: pending('embedded') },
    { kind: 'trellis.adapter', id: 'kafka', roles: ['stream'], createStream: pending('kafka') },
  ];
  for (const registration of builtins) catalogue.register(registration, 'trellis built-ins');
  return catalogue;
}
