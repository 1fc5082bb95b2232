"""Feast side of bench/serving/serving-bench.ts: builds a Feast feature repo holding the same data the Trellis
online store gets, registers it and loads it into Feast's Redis online store.

  python bench/serving/feast-repo.py --dir DIR --redis 127.0.0.1:56379 --db 0 --entities 10000 --features 50 \
      --base-ts-ms 1700000000000 [--load materialize|write]

Data (identical to the TypeScript side): entity `user_id` = "u<i>", feature f<j> = i / (j + 1) as float64,
event time = base - (i % 1000) seconds. Writes DIR/feature_store.yaml, DIR/features.py, DIR/data/users.parquet,
runs `feast apply` (the CLI) and then `materialize` (default) or `write_to_online_store`.
Prints one JSON line with timings.
"""

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--redis", default="127.0.0.1:56379")
    p.add_argument("--db", type=int, default=0)
    p.add_argument("--project", default="trellis_bench")
    p.add_argument("--entities", type=int, default=10_000)
    p.add_argument("--features", type=int, default=50)
    p.add_argument("--base-ts-ms", type=int, required=True)
    p.add_argument("--ttl-days", type=int, default=3650)
    p.add_argument("--load", choices=["materialize", "write"], default="materialize")
    a = p.parse_args()

    import pandas as pd  # noqa: E402 (venv only)

    os.makedirs(os.path.join(a.dir, "data"), exist_ok=True)
    n, m = a.entities, a.features
    ids = list(range(n))
    base = pd.Timestamp(a.base_ts_ms, unit="ms", tz="UTC")
    frame = {"user_id": [f"u{i}" for i in ids], "event_ts": [base - pd.Timedelta(seconds=i % 1000) for i in ids]}
    for j in range(m):
        frame[f"f{j}"] = [i / (j + 1) for i in ids]
    df = pd.DataFrame(frame)
    parquet = os.path.join(a.dir, "data", "users.parquet")
    df.to_parquet(parquet, index=False)

    with open(os.path.join(a.dir, "feature_store.yaml"), "w") as f:
        f.write(
            f"""project: {a.project}
registry: data/registry.db
provider: local
online_store:
  type: redis
  connection_string: "{a.redis},db={a.db}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""
        )
    fields = "\n".join(f'        Field(name="f{j}", dtype=Float64),' for j in range(m))
    with open(os.path.join(a.dir, "features.py"), "w") as f:
        f.write(
            f"""from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
source = FileSource(path={parquet!r}, timestamp_field="event_ts")
user_features = FeatureView(
    name="user_features",
    entities=[user],
    ttl=timedelta(days={a.ttl_days}),
    schema=[
{fields}
    ],
    source=source,
    online=True,
)
"""
        )

    import subprocess  # noqa: E402
    from feast import FeatureStore  # noqa: E402

    t0 = time.time()
    feast_cli = os.path.join(os.path.dirname(sys.executable), "feast")
    subprocess.run([feast_cli, "apply"], cwd=a.dir, check=True, stdout=sys.stderr)
    t1 = time.time()
    store = FeatureStore(repo_path=a.dir)
    if a.load == "materialize":
        end = datetime.fromtimestamp(a.base_ts_ms / 1000, tz=timezone.utc) + timedelta(seconds=1)
        store.materialize(start_date=end - timedelta(days=1), end_date=end)
    else:
        store.write_to_online_store("user_features", df)
    t2 = time.time()
    print(json.dumps({"applySeconds": round(t1 - t0, 2), "loadSeconds": round(t2 - t1, 2), "rows": n, "features": m, "load": a.load}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
