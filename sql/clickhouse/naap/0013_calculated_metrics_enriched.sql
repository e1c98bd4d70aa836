-- purpose: calculated_metrics with the orchestrator's on-chain identity and GPUs, as announced
--          in network_capabilities at or before the metric's time.
-- grain:   one row per calculated_metrics row.
-- writer:  none (a view).
-- why a view: stream events carry the orchestrator node's local (hot) key and its URL, not the
--          on-chain address or GPU; the real data shows one local key shared by several nodes
--          (0x52cf... by two on-chain orchestrators with different URLs), so the match is on
--          (orchestrator_url, local key), latest announcement at or before metric_timestamp
--          (ASOF JOIN). gpu_id is filled only when that announcement lists exactly one GPU:
--          the events do not say which of several GPUs served a stream. No event carries a
--          region, so region stays as written.
CREATE VIEW IF NOT EXISTS naap.calculated_metrics_enriched AS
SELECT
    m.*,
    o.orchestrator_address AS onchain_orchestrator_address,
    o.gpu_ids AS announced_gpu_ids,
    o.gpu_names AS announced_gpu_names,
    if(length(o.gpu_ids) = 1, o.gpu_ids[1], m.gpu_id) AS resolved_gpu_id,
    o.valid_from AS capabilities_announced_at
FROM naap.calculated_metrics AS m
ASOF LEFT JOIN
(
    SELECT
        orchestrator_url,
        local_address,
        valid_from,
        any(orchestrator_address) AS orchestrator_address,
        arraySort(groupUniqArrayIf(gpu_id, gpu_id != '')) AS gpu_ids,
        arraySort(groupUniqArrayIf(gpu_name, gpu_name != '')) AS gpu_names
    FROM naap.orchestrator_metadata
    GROUP BY orchestrator_url, local_address, valid_from
) AS o
ON m.orchestrator_url = o.orchestrator_url
    AND m.orchestrator_address = o.local_address
    AND m.metric_timestamp >= o.valid_from
SETTINGS join_use_nulls = 1
