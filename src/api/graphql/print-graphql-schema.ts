import { buildSchema, printSchema } from 'graphql/index.js';
import { graphqlTypeDefs } from './graphql-type-defs.js';

/** The SDL of the `/graphql` schema, normalised by graphql-js; committed as `openapi/schema.graphql`. */
export function printGraphqlSchema(): string {
  return `${printSchema(buildSchema(graphqlTypeDefs))}\n`;
}
