import { invalidDefinition } from '../../errors/trellis-error.js';
import { resourceColumnName, planFeatureJoin } from './plan-feature-join.js';
import type { OutputColumn, TrainingSetPlan } from './plan-nodes.js';
import { isStreamWindowFeatureSpec, planStreamWindowJoin } from './plan-stream-window.js';
import type { TrainingSetSpec } from './plan-types.js';
import { checkDistinctNames, checkIdentifier, checkKeyColumns, checkRelation } from './spec-validation.js';

/**
 * Validates a training-set spec and returns its dialect-neutral plan. Errors are
 * `TRELLIS_ERR_INVALID_DEFINITION` with a JSON pointer into the spec (e.g. `/features/1/ttlSeconds`).
 *
 * @example
 * const plan = planTrainingSet({ label, features: [clicks, spend] });
 * const { sql, parameters } = store.compiler.compile(plan);
 */
export function planTrainingSet(spec: TrainingSetSpec): TrainingSetPlan {
  if (typeof spec !== 'object' || spec === null) throw invalidDefinition('', 'must be a training set');
  const label = spec.label;
  if (typeof label !== 'object' || label === null) throw invalidDefinition('/label', 'is required');
  const labelName = checkIdentifier(label.name, '/label/name');
  const labelVariant = checkIdentifier(label.variant, '/label/variant');
  const keyColumns = checkKeyColumns(label.entityKeyColumns, '/label/entityKeyColumns');
  if (typeof label.source !== 'object' || label.source === null) throw invalidDefinition('/label/source', 'is required');
  const spine = Object.freeze({
    relation: checkRelation(label.source.relation, '/label/source/relation'),
    keyColumns,
    timestampColumn: checkIdentifier(label.source.timestampColumn, '/label/source/timestampColumn'),
    valueColumn: checkIdentifier(label.valueColumn, '/label/valueColumn'),
  });
  if (!Array.isArray(spec.features)) throw invalidDefinition('/features', 'must be a list of features');
  const features = Object.freeze(
    spec.features.map((f, i) => (isStreamWindowFeatureSpec(f) ? planStreamWindowJoin(f, `/features/${i}`, keyColumns.length) : planFeatureJoin(f, `/features/${i}`, keyColumns.length))),
  );

  const keyOutputNames =
    spec.keyNames === undefined ? keyColumns : checkKeyColumns(spec.keyNames, '/keyNames', keyColumns.length);
  const timestampOutputName =
    spec.timestampName === undefined ? spine.timestampColumn : checkIdentifier(spec.timestampName, '/timestampName');
  const labelOutputName = resourceColumnName(labelName, labelVariant);

  checkDistinctNames([
    ...keyOutputNames.map((name, i) => ({ name, owner: spec.keyNames ? `/keyNames/${i}` : `/label/entityKeyColumns/${i}` })),
    { name: timestampOutputName, owner: spec.timestampName ? '/timestampName' : '/label/source/timestampColumn' },
    ...features.map((f, i) => ({ name: f.outputName, owner: `/features/${i}` })),
    { name: labelOutputName, owner: '/label' },
  ]);

  const columns: OutputColumn[] = [
    ...keyOutputNames.map((name) => ({ name, role: 'key' as const })),
    { name: timestampOutputName, role: 'timestamp' },
    ...features.map((f) => ({ name: f.outputName, role: 'feature' as const })),
    { name: labelOutputName, role: 'label' },
  ];
  return Object.freeze({
    kind: 'training-set',
    spine,
    features,
    keyOutputNames,
    timestampOutputName,
    labelOutputName,
    columns: Object.freeze(columns.map((c) => Object.freeze(c))),
  });
}
