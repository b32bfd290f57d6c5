"""The leaderboard's queries: DuckDB views over the store's ``runs``, ``metrics`` and ``suite_cells``.

Every view is documented in ``docs/views.md``. They are created as TEMP views by default, so that the
store file (written only by the collector) is never modified and a read-only connection works.
Significance tests need scipy, so they are computed in :mod:`tram_bench.report.significance` and
stored in the temp tables ``significance`` and ``task_tests`` (across tasks: ``across_tasks``,
``rank_intervals``).

Means are exact functions of the *set* of values (:func:`exact_mean`), so configurations with
bit-identical per-seed values share their mean, rank and ★ whatever order DuckDB reads the rows in.
"""

from __future__ import annotations

from tram_bench.report.published import PublishedData, insert_rows, load_published
from tram_bench.train.rundir import FINISHED, Status
from tram_bench.util.hashing import canonical

# 95% two-sided t quantiles are tabulated up to this many degrees of freedom; beyond it the normal
# quantile differs from t by less than 1e-3 relative.
T_TABLE_MAX_DF = 1000
Z_975 = 1.959963984540054
ANALYSIS_METRICS = ("sharpness", "cka")
REQUIRED_TABLES = ("runs", "metrics", "suite_cells")
# Below this spread relative to the values' magnitude, a side of a correlation counts as constant.
CONSTANT_REL_SPREAD = 1e-12

_CONFIG_KEYS = "suite, task_label, task, method, hparams, config"
# The suite design (contract of tram_bench.suite.design): one row per suite and task label.
DESIGN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("suite", "VARCHAR"), ("task_label", "VARCHAR"), ("task", "VARCHAR"), ("family", "VARCHAR"),
    ("baseline_method", "VARCHAR"), ("baseline_hparams", "VARCHAR"), ("delta", "DOUBLE"), ("units", "VARCHAR"),
    ("alpha", "DOUBLE"), ("comparisons", "INTEGER"), ("n_seeds", "INTEGER"),
)
CANON_JSON_FUNCTION = "tb_canonical_json"
# Run counts of a group of cells by finished status (n_ok, n_failed, n_diverged: from rundir.FINISHED),
# n_missing (planned cells without a finished run) and partial (not every cell ok).
_STATUS_COUNTS = ",\n               ".join(
    [f"count(*) FILTER (WHERE status = '{s}') AS n_{s}" for s in FINISHED]
    + [f"count(*) FILTER (WHERE status NOT IN ({', '.join(repr(str(s)) for s in FINISHED)})) AS n_missing",
       f"count(*) FILTER (WHERE status = '{Status.OK}') < count(*) AS partial"])


def exact_mean(expr: str, where: str | None = None) -> str:
    """SQL for the mean of ``expr`` over a group that depends only on the multiset of values.

    DuckDB's ``avg`` adds in the order rows arrive, so equal sets of values read in another order can
    differ in the last bit; summing the value-sorted list removes the order. ``where`` is a filter.
    """
    f = f" FILTER (WHERE {where})" if where else ""
    return f"(list_sum(list_sort(list({expr}){f})) / nullif(count({expr}){f}, 0))"


def canonical_json(text: str | None) -> str | None:
    """Key-sorted JSON in which numbers compare by value (``1.0`` → ``1``, as run ids hash them).

    Hyperparameters written as ``1`` in one plan and ``1.0`` in a record are one configuration.
    Text that is not JSON is returned unchanged (never raises).
    """
    import json

    if text is None:
        return None
    try:
        return json.dumps(canonical(json.loads(text)), sort_keys=True)
    except (ValueError, TypeError):
        return text

VIEWS: tuple[tuple[str, str], ...] = (
    (
        "grid",
        """
        WITH cells AS (
            SELECT DISTINCT suite, task_label, task, method, CANON_JSON(CAST(hparams AS VARCHAR)) AS hparams, seed,
                   run_id, TRUE AS planned, BASELINE_FLAG AS baseline, '' AS setup
            FROM suite_cells
            UNION ALL
            -- Runs of a suite without a plan file; runs of a planned suite that its plan no longer
            -- lists are stale (the stale_runs view) and enter no statistic.
            SELECT r.suite, r.task_label, r.task, r.method, CANON_JSON(CAST(r.hparams AS VARCHAR)), r.seed, r.run_id,
                   FALSE, FALSE, md5(coalesce(CAST(r.task_params AS VARCHAR), '') || '|' || coalesce(CAST(r.train AS VARCHAR), ''))
            FROM runs r
            WHERE r.run_id NOT IN (SELECT run_id FROM suite_cells)
              AND NOT EXISTS (SELECT 1 FROM suite_cells s WHERE s.suite = r.suite)
        )
        SELECT c.suite, coalesce(nullif(c.task_label, ''), c.task) AS task_label, c.task, c.method, c.hparams,
               c.seed, c.run_id, c.planned, coalesce(r.status, 'missing') AS status, c.baseline, c.setup
        FROM cells c LEFT JOIN runs r ON r.run_id = c.run_id
        """,
    ),
    (
        # A readable name per (suite, method, hparams): the method id, plus the hyperparameters that
        # vary between that method's configurations in the suite (``sam[rho=0.05]``).
        "configs",
        """
        WITH cfg AS (SELECT DISTINCT suite, method, hparams FROM grid),
        n_cfg AS (SELECT suite, method, count(*) AS n FROM cfg GROUP BY suite, method),
        kv0 AS (SELECT suite, method, hparams, unnest(json_keys(hparams)) AS key FROM cfg),
        kv AS (
            SELECT suite, method, hparams, key, json_extract_string(hparams, '$."' || key || '"') AS val FROM kv0
        ),
        varying AS (
            SELECT kv.suite, kv.method, kv.key
            FROM kv JOIN n_cfg USING (suite, method)
            GROUP BY kv.suite, kv.method, kv.key, n_cfg.n
            HAVING count(DISTINCT coalesce(kv.val, '<null>')) > 1 OR count(*) < n_cfg.n
        )
        SELECT c.suite, c.method, c.hparams,
               CASE WHEN count(v.key) = 0 THEN c.method
                    ELSE c.method || '[' || string_agg(v.key || '=' || coalesce(kv.val, '-'), ', ' ORDER BY v.key) || ']'
               END AS config
        FROM cfg c
        LEFT JOIN varying v ON v.suite = c.suite AND v.method = c.method
        LEFT JOIN kv ON kv.suite = c.suite AND kv.method = c.method AND kv.hparams = c.hparams AND kv.key = v.key
        GROUP BY c.suite, c.method, c.hparams
        """,
    ),
    (
        # A configuration is the full resolved setup: inside a plan the task label fixes the task
        # params and train setup; runs without a plan that share a label, method and hparams but not
        # their task params and train setup are told apart by a setup suffix.
        "cells",
        """
        SELECT g.* EXCLUDE (setup),
               c.config || CASE WHEN count(DISTINCT g.setup) OVER (PARTITION BY g.suite, g.task_label, g.method, g.hparams) > 1
                                THEN ' {setup ' || left(g.setup, 6) || '}' ELSE '' END AS config
        FROM grid g JOIN configs c USING (suite, method, hparams)
        """,
    ),
    (
        # Runs of a planned suite that the current plan does not list (the suite was edited after
        # they ran): shown apart, counted, excluded from every statistic.
        "stale_runs",
        """
        SELECT r.suite, coalesce(nullif(r.task_label, ''), r.task) AS task_label, r.task, r.method,
               CAST(r.hparams AS VARCHAR) AS hparams, r.seed, r.run_id, r.status, r.finished_at
        FROM runs r
        WHERE r.run_id NOT IN (SELECT run_id FROM suite_cells)
          AND EXISTS (SELECT 1 FROM suite_cells s WHERE s.suite = r.suite)
        """,
    ),
    (
        # Two ok runs of one configuration with the same seed: an error in the report (the pairing
        # by seed would otherwise keep one of them silently).
        "duplicate_seeds",
        f"""
        SELECT suite, task_label, task, config, seed, count(*) AS n_runs,
               string_agg(run_id, ', ' ORDER BY run_id) AS run_ids
        FROM cells
        WHERE status = '{Status.OK}'
        GROUP BY suite, task_label, task, config, seed
        HAVING count(*) > 1
        """,
    ),
    (
        # The declared baseline of each task (contract: suite_cells.baseline); a task whose cells
        # name no baseline, or more than one configuration, has none here.
        "task_baseline",
        """
        SELECT suite, task_label, any_value(task) AS task, any_value(method) AS method,
               any_value(hparams) AS hparams, any_value(config) AS config
        FROM cells
        WHERE baseline
        GROUP BY suite, task_label
        HAVING count(DISTINCT config) = 1
        """,
    ),
    (
        "completeness",
        f"""
        SELECT {_CONFIG_KEYS},
               count(*) AS n_cells,
               count(*) FILTER (WHERE planned) AS n_planned,
               {_STATUS_COUNTS}
        FROM cells
        GROUP BY {_CONFIG_KEYS}
        """,
    ),
    (
        "task_completeness",
        f"""
        SELECT suite, task_label, task,
               count(DISTINCT config) AS n_configs,
               count(*) AS n_cells,
               count(*) FILTER (WHERE planned) AS n_planned,
               {_STATUS_COUNTS}
        FROM cells
        GROUP BY suite, task_label, task
        """,
    ),
    (
        "suite_completeness",
        f"""
        SELECT suite,
               count(DISTINCT task_label) AS n_tasks,
               count(DISTINCT config) AS n_configs,
               count(*) AS n_cells,
               count(*) FILTER (WHERE planned) AS n_planned,
               {_STATUS_COUNTS}
        FROM cells
        GROUP BY suite
        """,
    ),
    (
        "run_values",
        f"""
        SELECT c.suite, c.task_label, c.task, c.method, c.hparams, c.config, c.seed, c.run_id,
               m.checkpoint, m.domain, m.split, m.metric, m.value, m.in_domain, m.higher_is_better
        FROM cells c JOIN metrics m ON m.run_id = c.run_id
        WHERE c.status = '{Status.OK}'
        """,
    ),
    (
        "leaderboard",
        f"""
        WITH agg AS (
            SELECT {_CONFIG_KEYS}, checkpoint, split, domain, metric,
                   bool_or(in_domain) AS in_domain, bool_and(higher_is_better) AS higher_is_better,
                   count(value) AS n, {exact_mean("value")} AS mean, stddev_samp(value) AS std,
                   min(value) AS min, max(value) AS max
            FROM run_values
            GROUP BY {_CONFIG_KEYS}, checkpoint, split, domain, metric
        )
        SELECT a.*, a.std / sqrt(a.n) * coalesce(t.q975, {Z_975}) AS ci95,
               cp.n_cells AS n_planned, cp.n_ok, cp.partial
        FROM agg a
        LEFT JOIN t_quantiles t ON t.df = a.n - 1
        JOIN completeness cp USING ({_CONFIG_KEYS})
        """,
    ),
    (
        "run_averages",
        f"""
        SELECT {_CONFIG_KEYS}, seed, run_id, checkpoint, split, metric,
               bool_and(higher_is_better) AS higher_is_better,
               {exact_mean("value", "in_domain")} AS id_avg,
               count(*) FILTER (WHERE in_domain) AS n_id_domains,
               {exact_mean("value", "NOT in_domain")} AS ood_avg,
               count(*) FILTER (WHERE NOT in_domain) AS n_ood_domains
        FROM run_values
        GROUP BY {_CONFIG_KEYS}, seed, run_id, checkpoint, split, metric
        """,
    ),
    (
        "leaderboard_averages",
        f"""
        WITH agg AS (
            SELECT {_CONFIG_KEYS}, checkpoint, split, metric,
                   bool_and(higher_is_better) AS higher_is_better,
                   count(id_avg) AS n_id, {exact_mean("id_avg")} AS id_mean, stddev_samp(id_avg) AS id_std,
                   count(ood_avg) AS n_ood, {exact_mean("ood_avg")} AS ood_mean, stddev_samp(ood_avg) AS ood_std,
                   max(n_id_domains) AS n_id_domains, max(n_ood_domains) AS n_ood_domains
            FROM run_averages
            GROUP BY {_CONFIG_KEYS}, checkpoint, split, metric
        )
        SELECT a.*,
               a.id_std / sqrt(a.n_id) * coalesce(tq_id.q975, {Z_975}) AS id_ci95,
               a.ood_std / sqrt(a.n_ood) * coalesce(tq_ood.q975, {Z_975}) AS ood_ci95,
               cp.n_cells AS n_planned, cp.n_ok, cp.partial
        FROM agg a
        LEFT JOIN t_quantiles tq_id ON tq_id.df = a.n_id - 1
        LEFT JOIN t_quantiles tq_ood ON tq_ood.df = a.n_ood - 1
        JOIN completeness cp USING ({_CONFIG_KEYS})
        """,
    ),
    (
        # The metric the report leads with: accuracy, else perplexity, else any other non-analysis
        # metric (alphabetically), with plain loss last.
        "primary_metric",
        f"""
        SELECT suite, task_label, metric
        FROM (
            SELECT suite, task_label, metric,
                   row_number() OVER (
                       PARTITION BY suite, task_label
                       ORDER BY CASE metric WHEN 'accuracy' THEN 0 WHEN 'perplexity' THEN 1 WHEN 'loss' THEN 3 ELSE 2 END,
                                metric
                   ) AS rn
            FROM (SELECT DISTINCT suite, task_label, metric FROM run_values
                  WHERE split = 'test' AND metric NOT IN {ANALYSIS_METRICS})
        )
        WHERE rn = 1
        """,
    ),
    (
        # Rank of each configuration within each task: the selected checkpoint's test score, OOD
        # average of the primary metric (in-domain average for a task without OOD domains).
        # Ties share the average rank.
        "task_rank",
        """
        WITH s AS (
            SELECT la.suite, la.task_label, la.task, la.method, la.hparams, la.config, la.metric,
                   la.higher_is_better, coalesce(la.ood_mean, la.id_mean) AS score,
                   la.ood_mean IS NOT NULL AS score_is_ood, la.partial
            FROM leaderboard_averages la
            JOIN primary_metric pm USING (suite, task_label, metric)
            WHERE la.checkpoint = 'selected' AND la.split = 'test' AND coalesce(la.ood_mean, la.id_mean) IS NOT NULL
        )
        SELECT *,
               rank() OVER (PARTITION BY suite, task_label
                            ORDER BY CASE WHEN higher_is_better THEN -score ELSE score END)
                 + (count(*) OVER (PARTITION BY suite, task_label, score) - 1) / 2.0 AS rank,
               count(*) OVER (PARTITION BY suite, task_label) AS n_configs
        FROM s
        """,
    ),
    (
        "aggregate_rank",
        """
        SELECT suite, method, config,
               count(*) AS n_tasks,
               (SELECT count(DISTINCT t2.task_label) FROM task_rank t2 WHERE t2.suite = tr.suite) AS n_tasks_in_suite,
               avg(rank) AS mean_rank,
               sum(n_configs - rank) AS borda,
               bool_or(partial) AS partial
        FROM task_rank tr
        GROUP BY suite, method, config
        """,
    ),
    (
        # Severity of each OOD domain for the baseline, per seed then over seeds: relative drop from
        # the in-domain value for a higher-is-better metric, log ratio to it for a lower-is-better one.
        "shift_severity",
        f"""
        WITH b AS (
            SELECT v.* FROM run_values v JOIN task_baseline tb USING (suite, task_label, config)
        ),
        id_values AS (
            SELECT suite, task_label, run_id, checkpoint, split, metric, {exact_mean("value")} AS id_value
            FROM b WHERE in_domain
            GROUP BY suite, task_label, run_id, checkpoint, split, metric
        ),
        per_seed AS (
            SELECT b.suite, b.task_label, b.task, b.config AS baseline, b.checkpoint, b.split, b.metric, b.domain,
                   b.seed, b.higher_is_better,
                   CASE WHEN b.higher_is_better THEN (i.id_value - b.value) / nullif(i.id_value, 0)
                        WHEN i.id_value > 0 AND b.value > 0 THEN ln(b.value / i.id_value)
                   END AS severity
            FROM b JOIN id_values i USING (suite, task_label, run_id, checkpoint, split, metric)
            WHERE NOT b.in_domain
        ),
        agg AS (
            SELECT suite, task_label, task, baseline, checkpoint, split, metric, domain,
                   bool_and(higher_is_better) AS higher_is_better,
                   count(severity) AS n, {exact_mean("severity")} AS severity, stddev_samp(severity) AS severity_std
            FROM per_seed
            GROUP BY suite, task_label, task, baseline, checkpoint, split, metric, domain
        )
        SELECT a.*, a.severity_std / sqrt(a.n) * coalesce(t.q975, {Z_975}) AS severity_ci95,
               rank() OVER (PARTITION BY suite, task_label, checkpoint, split, metric
                            ORDER BY a.severity DESC NULLS LAST) AS severity_rank
        FROM agg a LEFT JOIN t_quantiles t ON t.df = a.n - 1
        """,
    ),
    (
        # Gain of each configuration over the baseline, paired by seed, positive = better:
        # the difference for higher-is-better metrics, log(baseline / method) for lower-is-better.
        "shift_gain",
        f"""
        WITH b AS (
            SELECT v.* FROM run_values v JOIN task_baseline tb USING (suite, task_label, config)
        ),
        pairs AS (
            SELECT m.suite, m.task_label, m.task, m.method, m.hparams, m.config, b.config AS baseline,
                   m.checkpoint, m.split, m.metric, m.domain, m.in_domain, m.higher_is_better, m.seed,
                   CASE WHEN m.higher_is_better THEN m.value - b.value
                        WHEN m.value > 0 AND b.value > 0 THEN ln(b.value / m.value)
                   END AS gain
            FROM run_values m
            JOIN b ON b.suite = m.suite AND b.task_label = m.task_label AND b.seed = m.seed
                  AND b.checkpoint = m.checkpoint AND b.split = m.split AND b.metric = m.metric AND b.domain = m.domain
            WHERE m.config <> b.config
        ),
        agg AS (
            SELECT {_CONFIG_KEYS}, baseline, checkpoint, split, metric, domain,
                   bool_or(in_domain) AS in_domain, bool_and(higher_is_better) AS higher_is_better,
                   count(gain) AS n_pairs, {exact_mean("gain")} AS gain, stddev_samp(gain) AS gain_std
            FROM pairs
            GROUP BY {_CONFIG_KEYS}, baseline, checkpoint, split, metric, domain
        )
        SELECT a.*, s.severity, s.severity_rank
        FROM agg a
        LEFT JOIN shift_severity s USING (suite, task_label, checkpoint, split, metric, domain)
        """,
    ),
    (
        # Across the OOD domains of a task: does a method gain more where the shift is harder?
        # Spearman = Pearson of average ranks. Needs at least 3 domains and non-constant values.
        "gain_severity_correlation",
        f"""
        WITH g AS (
            SELECT * FROM shift_gain WHERE NOT in_domain AND gain IS NOT NULL AND severity IS NOT NULL
        ),
        r AS (
            SELECT *,
                   rank() OVER (PARTITION BY suite, task_label, config, checkpoint, split, metric ORDER BY gain)
                     + (count(*) OVER (PARTITION BY suite, task_label, config, checkpoint, split, metric, gain) - 1) / 2.0
                     AS gain_rank,
                   rank() OVER (PARTITION BY suite, task_label, config, checkpoint, split, metric ORDER BY severity)
                     + (count(*) OVER (PARTITION BY suite, task_label, config, checkpoint, split, metric, severity) - 1) / 2.0
                     AS severity_rank_avg
            FROM g
        )
        SELECT {_CONFIG_KEYS}, checkpoint, split, metric,
               count(*) AS n_domains,
               CASE WHEN count(*) >= 3 AND var_samp(gain) > 0 AND var_samp(severity) > 0
                    THEN corr(gain, severity) END AS pearson,
               CASE WHEN count(*) >= 3 AND var_samp(gain_rank) > 0 AND var_samp(severity_rank_avg) > 0
                    THEN corr(gain_rank, severity_rank_avg) END AS spearman
        FROM r
        GROUP BY {_CONFIG_KEYS}, checkpoint, split, metric
        """,
    ),
    (
        # Cost per configuration over its successful runs, normalised to the task's declared baseline
        # (whatever its base optimizer: sgd, adam or adamw).
        "cost",
        f"""
        WITH per_config AS (
            SELECT c.suite, c.task_label, c.task, c.method, c.hparams, c.config,
                   count(*) AS n,
                   avg(r.steps) AS steps, avg(r.forward) AS forward, avg(r.backward) AS backward,
                   avg(r.step_time_s) AS step_time_s, avg(r.train_time_s) AS train_time_s,
                   avg(r.wall_time_s) AS wall_time_s, avg(r.peak_memory_mb) AS peak_memory_mb,
                   avg(r.examples_per_s) AS examples_per_s, avg(r.tokens_per_s) AS tokens_per_s
            FROM cells c JOIN runs r ON r.run_id = c.run_id
            WHERE c.status = '{Status.OK}'
            GROUP BY c.suite, c.task_label, c.task, c.method, c.hparams, c.config
        ),
        ref AS (SELECT p.* FROM per_config p JOIN task_baseline tb USING (suite, task_label, config))
        SELECT p.*, r.config AS reference,
               p.forward / nullif(r.forward, 0) AS forward_ratio,
               p.backward / nullif(r.backward, 0) AS backward_ratio,
               p.step_time_s / nullif(r.step_time_s, 0) AS step_time_ratio,
               p.wall_time_s / nullif(r.wall_time_s, 0) AS wall_time_ratio,
               p.peak_memory_mb / nullif(r.peak_memory_mb, 0) AS peak_memory_ratio
        FROM per_config p
        LEFT JOIN ref r ON r.suite = p.suite AND r.task_label = p.task_label
        """,
    ),
    (
        # Equal compute: a configuration's selected-checkpoint score beside the score of its task's
        # declared baseline (same method and hparams) from a run group of the same suite and task id
        # that used the same number of backward passes (within 1%), e.g. a suite that gives sgd twice
        # the steps of sam.
        "equal_compute",
        """
        WITH s AS (
            SELECT la.suite, la.task_label, la.task, la.method, la.hparams, la.config, la.metric,
                   la.higher_is_better, coalesce(la.ood_mean, la.id_mean) AS score, la.n_ood, la.n_id
            FROM leaderboard_averages la
            JOIN primary_metric pm USING (suite, task_label, metric)
            WHERE la.checkpoint = 'selected' AND la.split = 'test'
        ),
        c AS (SELECT suite, task_label, task, method, hparams, config, backward FROM cost)
        SELECT a.suite, a.task, a.task_label, a.method, a.config, a.metric, a.higher_is_better,
               ca.backward, a.score,
               b.task_label AS base_task_label, b.config AS base_config, cb.backward AS base_backward, b.score AS base_score,
               CASE WHEN a.higher_is_better THEN a.score - b.score ELSE b.score - a.score END AS advantage
        FROM s a
        JOIN task_baseline tb ON tb.suite = a.suite AND tb.task_label = a.task_label AND tb.config <> a.config
        JOIN c ca ON ca.suite = a.suite AND ca.task_label = a.task_label AND ca.config = a.config
        JOIN c cb ON cb.suite = a.suite AND cb.task = a.task AND cb.method = tb.method AND cb.hparams = tb.hparams
                 AND NOT (cb.task_label = a.task_label AND cb.config = a.config)
                 AND abs(cb.backward - ca.backward) <= 0.01 * ca.backward
        JOIN s b ON b.suite = cb.suite AND b.task_label = cb.task_label AND b.config = cb.config
                AND b.metric = a.metric
        """,
    ),
    (
        # Published cells with their spread: Table 13's per-seed standard deviations fill the ± of
        # the Table 5/12/14 means they belong to.
        "published_cells",
        """
        SELECT p.table_id, p.split, p.model, p.method, p.method_label, p.hparams, p.domain, p.domain_label,
               p.metric, p.value, p.value_text,
               coalesce(p.pm, s.value) AS pm, coalesce(p.pm_text, s.value_text) AS pm_text,
               CASE WHEN p.pm IS NULL AND s.value IS NOT NULL THEN 'std' ELSE p.pm_kind END AS pm_kind,
               CASE WHEN p.pm IS NULL AND s.value IS NOT NULL THEN s.table_id END AS pm_table,
               p.in_domain, p.is_average, p.higher_is_better, p.seeds, p.position
        FROM published p
        LEFT JOIN published s
               ON s.statistic = 'std' AND s.split = p.split AND s.method = p.method AND s.hparams = p.hparams
              AND s.domain = p.domain AND s.metric = p.metric AND s.model = p.model
        WHERE p.statistic = 'mean'
        """,
    ),
    (
        # Every printed cell for display: the means (with their spread) and Table 13's standard deviations.
        "published_display",
        """
        SELECT table_id, split, model, method, method_label, hparams, domain, domain_label, metric, 'mean' AS statistic,
               value, value_text, pm, pm_text, pm_kind, in_domain, is_average, higher_is_better, seeds, position
        FROM published_cells
        UNION ALL
        SELECT table_id, split, model, method, method_label, hparams, domain, domain_label, metric, statistic,
               value, value_text, pm, pm_text, pm_kind, in_domain, is_average, higher_is_better, seeds, position
        FROM published WHERE statistic <> 'mean'
        """,
    ),
    (
        # Reproduced vs published, only for tasks that ``published/mapping.yaml`` maps onto a
        # published setup. A published row matches a configuration when its method ids are equal and
        # its (distinguishing) hparams are contained in the run's hparams.
        "published_comparison",
        """
        WITH cellwise AS (
            SELECT l.suite, l.task_label, l.task, l.method, l.hparams, l.config, l.checkpoint, l.metric,
                   l.domain, m.paper_domain, m.table_id, m.split AS paper_split, FALSE AS is_average,
                   pc.method_label, pc.value AS published, pc.pm AS published_pm, pc.pm_kind AS published_pm_kind,
                   pc.seeds AS published_seeds, l.n, l.mean * m.scale AS ours, l.std * m.scale AS ours_std,
                   l.ci95 * m.scale AS ours_ci95, l.partial, m.tolerance
            FROM leaderboard l
            JOIN published_task_map m
              ON m.task = l.task AND m.our_domain = l.domain AND m.metric = l.metric AND m.checkpoint = l.checkpoint
            JOIN published_cells pc
              ON pc.table_id = m.table_id AND pc.split = m.split AND pc.domain = m.paper_domain
             AND pc.metric = m.metric AND pc.method = l.method AND json_contains(l.hparams::JSON, pc.hparams)
            WHERE l.split = 'test'
        ),
        maps AS (
            SELECT DISTINCT task, table_id, split, metric, scale, tolerance, checkpoint FROM published_task_map WHERE zs_avg
        ),
        averages AS (
            SELECT la.suite, la.task_label, la.task, la.method, la.hparams, la.config, la.checkpoint, la.metric,
                   'ood average' AS domain, pc.domain AS paper_domain, m.table_id, m.split AS paper_split, TRUE AS is_average,
                   pc.method_label, pc.value AS published, pc.pm AS published_pm, pc.pm_kind AS published_pm_kind,
                   pc.seeds AS published_seeds, la.n_ood AS n, la.ood_mean * m.scale AS ours, la.ood_std * m.scale AS ours_std,
                   la.ood_ci95 * m.scale AS ours_ci95, la.partial, m.tolerance
            FROM leaderboard_averages la
            JOIN maps m ON m.task = la.task AND m.metric = la.metric AND m.checkpoint = la.checkpoint
            JOIN published_cells pc
              ON pc.table_id = m.table_id AND pc.split = m.split AND pc.is_average AND pc.metric = m.metric
             AND pc.method = la.method AND json_contains(la.hparams::JSON, pc.hparams)
            WHERE la.split = 'test' AND la.ood_mean IS NOT NULL
        ),
        u AS (SELECT * FROM cellwise UNION ALL SELECT * FROM averages)
        SELECT *, ours - published AS delta, abs(ours - published) <= tolerance + 1e-9 AS within_tolerance FROM u
        """,
    ),
    (
        # Analysis metrics (epsilon-sharpness, CKA) as the paper's Table 6 reports them: per
        # configuration, the in-domain value and the OOD average ± std across domains of the per-domain
        # means over seeds.
        "analysis_summary",
        f"""
        SELECT {_CONFIG_KEYS}, checkpoint, split, metric,
               bool_and(higher_is_better) AS higher_is_better,
               avg(mean) FILTER (WHERE in_domain) AS id_mean,
               avg(mean) FILTER (WHERE NOT in_domain) AS ood_mean,
               stddev_samp(mean) FILTER (WHERE NOT in_domain) AS ood_std_across_domains,
               count(*) FILTER (WHERE NOT in_domain) AS n_ood_domains,
               min(n) AS n_min, max(n) AS n_max, bool_or(partial) AS partial
        FROM leaderboard
        WHERE metric IN {ANALYSIS_METRICS}
        GROUP BY {_CONFIG_KEYS}, checkpoint, split, metric
        """,
    ),
    (
        # Table 6a's "Pearson ρ (En vs ZS)": across a configuration's runs (seeds), the correlation of
        # each run's in-domain value with its OOD average, per analysis metric and split (so one row per
        # analysis_summary row). NULL below 3 paired runs or when a side is constant; "constant" allows
        # a relative spread of 1e-12, because equal OOD averages summed in another row order can
        # differ in their last bit, and corr() of such noise is a meaningless ±1.
        "analysis_id_ood_correlation",
        f"""
        WITH agg AS (
            SELECT {_CONFIG_KEYS}, checkpoint, split, metric,
                   count(*) FILTER (WHERE id_avg IS NOT NULL AND ood_avg IS NOT NULL) AS n_runs,
                   corr(ood_avg, id_avg) FILTER (WHERE id_avg IS NOT NULL AND ood_avg IS NOT NULL) AS r,
                   min(id_avg) FILTER (WHERE ood_avg IS NOT NULL) AS id_lo,
                   max(id_avg) FILTER (WHERE ood_avg IS NOT NULL) AS id_hi,
                   min(ood_avg) FILTER (WHERE id_avg IS NOT NULL) AS ood_lo,
                   max(ood_avg) FILTER (WHERE id_avg IS NOT NULL) AS ood_hi
            FROM run_averages
            WHERE metric IN {ANALYSIS_METRICS}
            GROUP BY {_CONFIG_KEYS}, checkpoint, split, metric
        )
        SELECT {_CONFIG_KEYS}, checkpoint, split, metric, n_runs,
               CASE WHEN n_runs >= 3
                         AND id_hi - id_lo > {CONSTANT_REL_SPREAD} * greatest(abs(id_lo), abs(id_hi))
                         AND ood_hi - ood_lo > {CONSTANT_REL_SPREAD} * greatest(abs(ood_lo), abs(ood_hi))
                    THEN r END AS pearson
        FROM agg
        """,
    ),
    (
        # One point per successful run for the analysis scatter plots: the run's OOD average of an
        # analysis metric against its OOD average of the task's primary metric, both on the test split
        # and at the same checkpoint.
        "analysis_run_points",
        f"""
        SELECT a.suite, a.task_label, a.task, a.method, a.hparams, a.config, a.seed, a.run_id, a.checkpoint,
               a.metric, a.higher_is_better, a.ood_avg AS analysis_ood_avg, a.n_ood_domains,
               p.metric AS primary_metric, p.higher_is_better AS primary_higher_is_better,
               p.ood_avg AS primary_ood_avg
        FROM run_averages a
        JOIN primary_metric pm ON pm.suite = a.suite AND pm.task_label = a.task_label
        JOIN run_averages p
          ON p.suite = a.suite AND p.task_label = a.task_label AND p.config = a.config AND p.run_id = a.run_id
         AND p.checkpoint = a.checkpoint AND p.split = 'test' AND p.metric = pm.metric
        WHERE a.metric IN {ANALYSIS_METRICS} AND a.split = 'test'
          AND a.ood_avg IS NOT NULL AND p.ood_avg IS NOT NULL
        """,
    ),
)

VIEW_NAMES = tuple(name for name, _ in VIEWS)
# ``grid`` calls a Python function (canonical hparams), so it is materialised: a view calling it would
# fail on a connection that has not registered the function.
MATERIALISED = ("grid", "cells")


class StoreSchemaError(RuntimeError):
    """The database lacks a table the report needs (one-line, user-facing)."""


def _existing_tables(con) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {r[0] for r in rows}


def create_t_quantiles(con, *, temporary: bool = True) -> None:
    from scipy.special import stdtrit  # the t quantile; far lighter to import than scipy.stats

    con.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE t_quantiles (df INTEGER, q975 DOUBLE)")
    dfs = list(range(1, T_TABLE_MAX_DF + 1))
    insert_rows(con, "t_quantiles", [(df, float(stdtrit(df, 0.975))) for df in dfs])


def columns(con, table: str) -> set[str]:
    """The column names of ``table`` (empty when it does not exist): stores from older schemas lack some."""
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}


def create_design_table(con, *, temporary: bool = True) -> None:
    """``task_design``: the store's ``suite_design`` rows, or no rows for a store written before it existed."""
    cols = ", ".join(f"{n} {t}" for n, t in DESIGN_COLUMNS)
    con.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE task_design ({cols})")
    if "suite_design" in _existing_tables(con):
        have = columns(con, "suite_design")
        select = ", ".join(f"CAST({n} AS {t})" if n in have else f"CAST(NULL AS {t})" for n, t in DESIGN_COLUMNS)
        con.execute(f"INSERT INTO task_design SELECT {select} FROM suite_design")


def _register_functions(con) -> None:
    try:
        con.remove_function(CANON_JSON_FUNCTION)
    except Exception:  # noqa: BLE001 - not registered yet on this connection
        pass
    con.create_function(CANON_JSON_FUNCTION, canonical_json, ["VARCHAR"], "VARCHAR", null_handling="special",
                        side_effects=False)


def create_views(con, *, temporary: bool = True, published: PublishedData | None = None) -> None:
    """Create every report view (and the ``published`` tables and ``significance`` table) on ``con``.

    Raises :class:`StoreSchemaError` when ``runs``, ``metrics`` or ``suite_cells`` is missing. A store
    without the suite design (``suite_design``, ``suite_cells.baseline``) gets views without a
    baseline: the baseline-relative views are empty and significance says "no declared baseline".
    """
    missing = [t for t in REQUIRED_TABLES if t not in _existing_tables(con)]
    if missing:
        raise StoreSchemaError(f"the results database has no table(s) {', '.join(missing)}; run the collector first")
    load_published(con, published, temporary=temporary)
    create_t_quantiles(con, temporary=temporary)
    create_design_table(con, temporary=temporary)
    _register_functions(con)
    baseline_flag = "coalesce(baseline, FALSE)" if "baseline" in columns(con, "suite_cells") else "FALSE"
    kind = "TEMP VIEW" if temporary else "VIEW"
    for name, sql in VIEWS:
        sql = sql.replace("CANON_JSON", CANON_JSON_FUNCTION).replace("BASELINE_FLAG", baseline_flag)
        # ``cells`` (the grid with configuration names) is materialised: every other view builds on it,
        # and re-planning its JSON unnesting inside each of them makes a report several times slower.
        what = ("TEMP TABLE" if temporary else "TABLE") if name in MATERIALISED else kind
        con.execute(f"CREATE OR REPLACE {what} {name} AS {sql}")
    from tram_bench.report.significance import create_significance_table

    create_significance_table(con, temporary=temporary)
