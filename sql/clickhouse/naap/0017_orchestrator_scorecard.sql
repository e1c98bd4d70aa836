-- purpose: the orchestrator scorecard (catalog metric orchestrator_score, version 1): the hourly
--          components the job writes (orchestrator_coverage / orchestrator_reliability rows of
--          calculated_metrics, metadata = components and counts) placed against the same
--          pipeline's previous 7 days, weighted 100 x coverage x (0.7 reliability + 0.3 quality).
-- grain:   one row per orchestrator x pipeline x hour (one per orchestrator_reliability row).
-- writer:  none (a view, computed at query time).
-- why a view: the cohort of an hour is 7 days of the pipeline's history; a streaming job would
--          keep 7 days of per-pipeline state and re-emit every score when a late hour arrives.
--          Here the cohort is read from calculated_metrics, so a replay of the components
--          recomputes the scores with it. The step is coarser than a sliding window: every hour
--          of day D uses the 7 whole UTC days D-7 .. D-1 (one cohort per pipeline and day).
--          Cohort quantiles are over the cohort's orchestrator-hour means weighted by their
--          sample counts (the job stores counts, sums and means, not every request's value).
-- scores:  latency 1 at cohort p50, 0 at p90; fps 0 at p10, 1 at p50; linear between, clamped.
--          Shrinkage to neutral: (n x s + 3 x 0.5) / (n + 3), n = the hour's samples; 0.5 when
--          the hour has no sample or the cohort fewer than 3 samples.
CREATE VIEW IF NOT EXISTS naap.orchestrator_scorecard AS
WITH
    inputs AS
    (
        SELECT
            metric_timestamp AS hour,
            toDate(metric_timestamp) AS day,
            orchestrator_address,
            orchestrator_url,
            pipeline,
            JSONExtractFloat(metric_metadata, 'coverage') AS coverage,
            metric_value AS reliability,
            JSONExtract(metric_metadata, 'startup_success', 'Nullable(Float64)') AS startup_success,
            JSONExtract(metric_metadata, 'no_swap', 'Nullable(Float64)') AS no_swap,
            JSONExtract(metric_metadata, 'viability', 'Nullable(Float64)') AS viability,
            JSONExtractUInt(metric_metadata, 'ptff_n') AS ptff_n,
            JSONExtractFloat(metric_metadata, 'ptff_mean_ms') AS ptff_ms,
            JSONExtractUInt(metric_metadata, 'playable_n') AS playable_n,
            JSONExtractFloat(metric_metadata, 'playable_mean_ms') AS playable_ms,
            JSONExtractUInt(metric_metadata, 'fps_n') AS fps_n,
            JSONExtractFloat(metric_metadata, 'fps_mean') AS fps,
            JSONExtractUInt(metric_metadata, 'attempts') AS attempts,
            JSONExtractUInt(metric_metadata, 'covered_minutes') AS covered_minutes
        FROM naap.calculated_metrics
        WHERE metric_name = 'orchestrator_reliability' AND metric_version = 1
    ),
    cohorts AS
    (
        SELECT
            pipeline,
            day + offset AS cohort_day,
            sumIf(ptff_n, ptff_n > 0) AS cohort_ptff_n,
            quantileExactWeightedIf(0.5)(ptff_ms, ptff_n, ptff_n > 0) AS cohort_ptff_p50,
            quantileExactWeightedIf(0.9)(ptff_ms, ptff_n, ptff_n > 0) AS cohort_ptff_p90,
            sumIf(playable_n, playable_n > 0) AS cohort_playable_n,
            quantileExactWeightedIf(0.5)(playable_ms, playable_n, playable_n > 0) AS cohort_playable_p50,
            quantileExactWeightedIf(0.9)(playable_ms, playable_n, playable_n > 0) AS cohort_playable_p90,
            sumIf(fps_n, fps_n > 0) AS cohort_fps_n,
            quantileExactWeightedIf(0.1)(fps, fps_n, fps_n > 0) AS cohort_fps_p10,
            quantileExactWeightedIf(0.5)(fps, fps_n, fps_n > 0) AS cohort_fps_p50
        FROM inputs
        ARRAY JOIN range(1, 8) AS offset
        GROUP BY pipeline, cohort_day
    ),
    placed AS
    (
        SELECT
            i.*,
            c.cohort_ptff_n, c.cohort_ptff_p50, c.cohort_ptff_p90,
            c.cohort_playable_n, c.cohort_playable_p50, c.cohort_playable_p90,
            c.cohort_fps_n, c.cohort_fps_p10, c.cohort_fps_p50,
            -- raw scores (NULL without a sample or a cohort of at least 3 samples)
            if(i.ptff_n > 0 AND c.cohort_ptff_n >= 3,
               if(c.cohort_ptff_p90 > c.cohort_ptff_p50,
                  greatest(0., least(1., (c.cohort_ptff_p90 - i.ptff_ms) / (c.cohort_ptff_p90 - c.cohort_ptff_p50))),
                  if(i.ptff_ms <= c.cohort_ptff_p50, 1., 0.)), NULL) AS ptff_raw,
            if(i.playable_n > 0 AND c.cohort_playable_n >= 3,
               if(c.cohort_playable_p90 > c.cohort_playable_p50,
                  greatest(0., least(1., (c.cohort_playable_p90 - i.playable_ms) / (c.cohort_playable_p90 - c.cohort_playable_p50))),
                  if(i.playable_ms <= c.cohort_playable_p50, 1., 0.)), NULL) AS playable_raw,
            if(i.fps_n > 0 AND c.cohort_fps_n >= 3,
               if(c.cohort_fps_p50 > c.cohort_fps_p10,
                  greatest(0., least(1., (i.fps - c.cohort_fps_p10) / (c.cohort_fps_p50 - c.cohort_fps_p10))),
                  if(i.fps >= c.cohort_fps_p50, 1., 0.)), NULL) AS fps_raw
        FROM inputs AS i
        LEFT JOIN cohorts AS c ON c.pipeline = i.pipeline AND c.cohort_day = i.day
        SETTINGS join_use_nulls = 1
    )
SELECT
    hour,
    orchestrator_address,
    orchestrator_url,
    pipeline,
    'orchestrator_score' AS metric_name,
    toUInt16(1) AS metric_version,
    100 * coverage * (0.7 * reliability + 0.3 * quality) AS score,
    coverage,
    reliability,
    quality,
    startup_success, no_swap, viability,
    ptff_score, playable_score, fps_score,
    ptff_raw, playable_raw, fps_raw,
    ptff_n, ptff_ms, playable_n, playable_ms, fps_n, fps,
    attempts, covered_minutes,
    ifNull(cohort_ptff_n, 0) AS cohort_ptff_n, cohort_ptff_p50, cohort_ptff_p90,
    ifNull(cohort_playable_n, 0) AS cohort_playable_n, cohort_playable_p50, cohort_playable_p90,
    ifNull(cohort_fps_n, 0) AS cohort_fps_n, cohort_fps_p10, cohort_fps_p50
FROM
(
    SELECT
        *,
        if(ptff_raw IS NULL, 0.5, (ptff_n * ptff_raw + 1.5) / (ptff_n + 3)) AS ptff_score,
        if(playable_raw IS NULL, 0.5, (playable_n * playable_raw + 1.5) / (playable_n + 3)) AS playable_score,
        if(fps_raw IS NULL, 0.5, (fps_n * fps_raw + 1.5) / (fps_n + 3)) AS fps_score,
        0.6 * (0.6 * ptff_score + 0.4 * playable_score) + 0.4 * fps_score AS quality
    FROM placed
)
