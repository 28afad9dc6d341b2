/*
 * GET /metrics in the Prometheus text format (version 0.0.4).
 *
 * Request counters and latency histograms are kept per (route, status) in relaxed atomics that
 * every loop updates without a lock; they are summed only when scraped. Buckets are stored
 * per bucket and made cumulative when rendered, as Prometheus expects. Ledger figures come
 * from tl_ledger_get_stats (appends, group-commit sizes, the fsync latency histogram), and
 * projection lag from tl_views_stats.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

/* Upper bounds of the request latency buckets, in seconds; the last bucket is +Inf. */
static const double latency_le[API_LATENCY_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                           0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
/* The statuses the API sends; anything else counts in the last slot. */
static const int statuses[API_STATUS_SLOTS - 1] = {200, 201, 400, 401, 403, 404, 405, 409, 413,
                                                   414, 415, 422, 500, 501, 503, 507, 304, 206};

static size_t status_slot(int status)
{
    for (size_t i = 0; i < API_STATUS_SLOTS - 1; i++)
        if (statuses[i] == status)
            return i;
    return API_STATUS_SLOTS - 1;
}

void api_metrics_observe(api_metrics *m, int route, int status, uint64_t elapsed_ns)
{
    if (route < 0 || route >= ROUTE_COUNT)
        route = ROUTE_UNKNOWN;
    size_t s = status_slot(status);
    double secs = (double)elapsed_ns / 1e9;
    size_t b = 0;
    while (b < API_LATENCY_BUCKETS - 1 && secs > latency_le[b])
        b++;
    atomic_fetch_add_explicit(&m->count[route][s], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->bucket[route][s][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us[route][s], elapsed_ns / 1000u, memory_order_relaxed);
}

static uint64_t ld(_Atomic uint64_t *v) { return atomic_load_explicit(v, memory_order_relaxed); }

static void counter(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void gauge(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void status_label(char *out, size_t cap, size_t slot)
{
    if (slot < API_STATUS_SLOTS - 1)
        snprintf(out, cap, "%d", statuses[slot]);
    else
        snprintf(out, cap, "other");
}

void api_metrics_render(tl_server *s, struct evbuffer *b)
{
    api_metrics *m = &s->metrics;
    tl_ledger_stats st;
    tl_ledger_get_stats(s->l, &st);

    gauge(b, "techledger_ledger_size", "Records in the log.", st.size);
    counter(b, "techledger_events_appended_total", "Events appended since the server started.", st.appended);
    counter(b, "techledger_events_duplicate_total", "Idempotent resubmissions of events already in the log.",
            st.duplicates);
    counter(b, "techledger_events_rejected_total", "Events refused by the sequencer's rules.", st.rejected);
    counter(b, "techledger_commits_total", "Group commits (one synced write each).", st.commits);
    counter(b, "techledger_commit_failures_total", "Group commits that failed to write.", st.commit_failures);
    counter(b, "techledger_checkpoints_total", "Checkpoints issued since the server started.", st.checkpoints);
    gauge(b, "techledger_sequencer_queue_depth", "Events waiting for the sequencer.", st.queue_depth);
    evbuffer_add_printf(b,
                        "# HELP techledger_sequencer_cpu_seconds_total CPU time of the sequencer thread; divided by "
                        "appends it is the sequencer's cost per event.\n"
                        "# TYPE techledger_sequencer_cpu_seconds_total counter\n"
                        "techledger_sequencer_cpu_seconds_total %.6f\n",
                        st.writer_cpu_seconds);
    evbuffer_add_printf(b,
                        "# HELP techledger_commit_batch_events Events per group commit.\n"
                        "# TYPE techledger_commit_batch_events summary\n"
                        "techledger_commit_batch_events_sum %" PRIu64 "\n"
                        "techledger_commit_batch_events_count %" PRIu64 "\n",
                        st.batch_events_sum, st.commits);
    evbuffer_add_printf(b, "# HELP techledger_fsync_seconds Latency of the synced write of each group commit.\n"
                           "# TYPE techledger_fsync_seconds histogram\n");
    for (unsigned k = 0; k < TL_FSYNC_BUCKETS; k++)
        evbuffer_add_printf(b, "techledger_fsync_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", (double)(1u << k) * 0.0001,
                            st.fsync_le[k]);
    evbuffer_add_printf(b,
                        "techledger_fsync_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                        "techledger_fsync_seconds_sum %.6f\ntechledger_fsync_seconds_count %" PRIu64 "\n",
                        st.fsync_le[TL_FSYNC_BUCKETS], st.fsync_seconds_sum, st.fsync_le[TL_FSYNC_BUCKETS]);

    gauge(b, "techledger_storage_flushes_running", "RocksDB memtable flushes running now.",
          st.storage_flushes_running);
    gauge(b, "techledger_storage_compactions_running", "RocksDB compactions running now.",
          st.storage_compactions_running);
    gauge(b, "techledger_storage_flushes_pending", "Full memtables waiting to be flushed, over every column family.",
          st.storage_flushes_pending);
    gauge(b, "techledger_storage_compactions_pending", "Column families with a RocksDB compaction due.",
          st.storage_compactions_pending);
    gauge(b, "techledger_storage_compaction_pending_bytes",
          "Bytes RocksDB estimates its compactions still have to rewrite, over every column family.",
          st.storage_compaction_pending_bytes);

    counter(b, "techledger_http_submissions_total", "POST /v1/events bodies accepted for processing.",
            ld(&m->submissions));
    counter(b, "techledger_http_envelopes_total", "Envelopes in accepted submissions.", ld(&m->envelopes));
    evbuffer_add_printf(b,
                        "# HELP techledger_http_envelope_results_total Outcome of each submitted envelope.\n"
                        "# TYPE techledger_http_envelope_results_total counter\n"
                        "techledger_http_envelope_results_total{result=\"created\"} %" PRIu64 "\n"
                        "techledger_http_envelope_results_total{result=\"duplicate\"} %" PRIu64 "\n"
                        "techledger_http_envelope_results_total{result=\"rejected\"} %" PRIu64 "\n",
                        ld(&m->envelopes_created), ld(&m->envelopes_duplicate), ld(&m->envelopes_rejected));
    evbuffer_add_printf(b,
                        "# HELP techledger_ingest_stage_seconds_total Time answered submissions spent in each stage, "
                        "summed: prepare (from the parsed request until every envelope is queued to the sequencer: "
                        "decoding, schema, signature, waiting for a worker), durable (until the group commit's "
                        "synced write has answered every envelope), reply (until the reply is handed to the "
                        "connection: waiting for the event loop). Divide by "
                        "techledger_ingest_submissions_timed_total for the mean.\n"
                        "# TYPE techledger_ingest_stage_seconds_total counter\n"
                        "techledger_ingest_stage_seconds_total{stage=\"prepare\"} %.6f\n"
                        "techledger_ingest_stage_seconds_total{stage=\"durable\"} %.6f\n"
                        "techledger_ingest_stage_seconds_total{stage=\"reply\"} %.6f\n",
                        (double)ld(&m->ingest_stage_ns[API_STAGE_PREPARE]) / 1e9,
                        (double)ld(&m->ingest_stage_ns[API_STAGE_DURABLE]) / 1e9,
                        (double)ld(&m->ingest_stage_ns[API_STAGE_REPLY]) / 1e9);
    counter(b, "techledger_ingest_submissions_timed_total", "Answered submissions counted in the stage times.",
            ld(&m->ingest_timed));
    counter(b, "techledger_http_busy_total", "Submissions refused with server.busy.", ld(&m->busy));
    counter(b, "techledger_access_log_errors_total", "Access log lines that could not be written.",
            ld(&m->access_log_errors));
    gauge(b, "techledger_http_connections", "Open HTTP connections.", atomic_load(&s->connections));
    gauge(b, "techledger_http_subscribers", "Open /v1/subscribe streams.", atomic_load(&s->subscribers));
    gauge(b, "techledger_http_inflight_bytes", "Submission bytes accepted and not yet answered.",
          atomic_load(&s->inflight_bytes));

    evbuffer_add_printf(b, "# HELP techledger_http_requests_total Requests answered, by route and status.\n"
                           "# TYPE techledger_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (size_t st_i = 0; st_i < API_STATUS_SLOTS; st_i++) {
            uint64_t n = ld(&m->count[r][st_i]);
            if (n == 0)
                continue;
            char sl[16];
            status_label(sl, sizeof sl, st_i);
            evbuffer_add_printf(b, "techledger_http_requests_total{route=\"%s\",status=\"%s\"} %" PRIu64 "\n",
                                api_route_name(r), sl, n);
        }
    evbuffer_add_printf(b, "# HELP techledger_http_request_duration_seconds Time from request to reply, by route "
                           "and status.\n# TYPE techledger_http_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (size_t st_i = 0; st_i < API_STATUS_SLOTS; st_i++) {
            uint64_t n = ld(&m->count[r][st_i]);
            if (n == 0)
                continue;
            char sl[16];
            status_label(sl, sizeof sl, st_i);
            uint64_t cum = 0;
            for (size_t k = 0; k < API_LATENCY_BUCKETS; k++) {
                cum += ld(&m->bucket[r][st_i][k]);
                char le[16];
                if (k < API_LATENCY_BUCKETS - 1)
                    snprintf(le, sizeof le, "%g", latency_le[k]);
                else
                    snprintf(le, sizeof le, "+Inf");
                evbuffer_add_printf(b,
                                    "techledger_http_request_duration_seconds_bucket{route=\"%s\",status=\"%s\","
                                    "le=\"%s\"} %" PRIu64 "\n",
                                    api_route_name(r), sl, le, cum);
            }
            evbuffer_add_printf(b,
                                "techledger_http_request_duration_seconds_sum{route=\"%s\",status=\"%s\"} %.6f\n"
                                "techledger_http_request_duration_seconds_count{route=\"%s\",status=\"%s\"} %" PRIu64
                                "\n",
                                api_route_name(r), sl, (double)ld(&m->sum_us[r][st_i]) / 1e6, api_route_name(r), sl,
                                cum);
        }

    if (s->views != NULL) {
        tl_projection_stats ps[TL_VIEWS_PROJECTIONS_MAX];
        size_t n = tl_views_stats(s->views, ps, TL_VIEWS_PROJECTIONS_MAX);
        if (n > TL_VIEWS_PROJECTIONS_MAX)
            n = TL_VIEWS_PROJECTIONS_MAX;
        evbuffer_add_printf(b, "# HELP techledger_projection_lag_records Records in the log not yet applied to the "
                               "projection.\n# TYPE techledger_projection_lag_records gauge\n");
        for (size_t i = 0; i < n; i++)
            evbuffer_add_printf(b, "techledger_projection_lag_records{projection=\"%s\"} %" PRIu64 "\n", ps[i].name,
                                ps[i].lag_records);
        evbuffer_add_printf(b, "# HELP techledger_projection_lag_seconds How long the oldest unapplied record has "
                               "waited.\n# TYPE techledger_projection_lag_seconds gauge\n");
        for (size_t i = 0; i < n; i++)
            evbuffer_add_printf(b, "techledger_projection_lag_seconds{projection=\"%s\"} %.3f\n", ps[i].name,
                                (double)ps[i].lag_ms / 1000.0);
        evbuffer_add_printf(b, "# HELP techledger_projection_position Records applied to the projection.\n"
                               "# TYPE techledger_projection_position gauge\n");
        for (size_t i = 0; i < n; i++)
            evbuffer_add_printf(b, "techledger_projection_position{projection=\"%s\"} %" PRIu64 "\n", ps[i].name,
                                ps[i].position);
    }
    api_views_metrics(s, b);
}
