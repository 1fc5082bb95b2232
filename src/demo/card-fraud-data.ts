import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export interface DemoDataOptions {
  /** DuckDB file to create the tables in. */
  readonly file: string;
  readonly transactions?: number;
  readonly users?: number;
  readonly merchants?: number;
  /** Latest event time; data spans the 60 days before it. */
  readonly anchor?: Date;
}

export interface DemoDataSummary {
  readonly created: boolean;
  readonly transactions: number;
  readonly fraudReports: number;
}

/**
 * Seeds the demo warehouse: card transactions and fraud reports, generated inside DuckDB from a fixed
 * hash seed so every machine gets the same rows for the same anchor. Existing tables are left alone.
 */
export async function seedCardFraudData(options: DemoDataOptions): Promise<DemoDataSummary> {
  mkdirSync(path.dirname(path.resolve(options.file)), { recursive: true });
  const instance = await DuckDBInstance.create(options.file);
  const connection = await instance.connect();
  try {
    const existing = await connection.runAndReadAll(
      `select count(*)::integer as n from information_schema.tables where table_name in ('transactions', 'fraud_reports')`,
    );
    const count = async (table: string) => Number((await connection.runAndReadAll(`select count(*) from ${table}`)).getRows()[0]![0]);
    if (Number(existing.getRows()[0]![0]) === 2) {
      return { created: false, transactions: await count('transactions'), fraudReports: await count('fraud_reports') };
    }
    const n = options.transactions ?? 100_000;
    const users = options.users ?? 2_000;
    const merchants = options.merchants ?? 300;
    const anchor = (options.anchor ?? new Date()).toISOString().replace('T', ' ').replace('Z', '');
    const span = 60 * 86_400;
    await connection.run(`
      create table transactions as
      select
        'txn_' || i as txn_id,
        'u' || lpad((hash(i, 'user') % ${users})::varchar, 5, '0') as user_id,
        'm' || lpad((hash(i, 'merchant') % ${merchants})::varchar, 4, '0') as merchant_id,
        round((5 + (hash(i, 'amount') % 50000) / 100.0 * (1 + (hash(i, 'big') % 10 = 0)::int * 4))::double, 2) as amount,
        timestamp '${anchor}' - to_seconds((hash(i, 'ts') % ${span})::bigint) as event_ts
      from range(${n}) as r(i)`);
    // created_ts: a little after the event, except for a few late corrections that reuse the event time.
    await connection.run(`alter table transactions add column created_ts timestamp`);
    await connection.run(`update transactions set created_ts = event_ts + to_seconds((hash(txn_id, 'lag') % 120)::bigint)`);
    await connection.run(`
      create table fraud_reports as
      select user_id,
             event_ts + to_seconds(3600 + (hash(txn_id, 'label') % 86400)::bigint) as label_ts,
             (amount > 400 and hash(txn_id, 'fraud') % 4 = 0) as is_fraud
      from transactions
      where hash(txn_id, 'sample') % 20 = 0`);
    return { created: true, transactions: await count('transactions'), fraudReports: await count('fraud_reports') };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
