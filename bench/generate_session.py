"""One stream session of the generator: its scenario and every line it sends, in event time."""

from __future__ import annotations

from bench.generate_world import (
    GATEWAY_WEIGHTS,
    INGEST_INTERVAL_MS,
    LAST_ERROR,
    MODELS,
    P_MIXED_CASE_SESSION,
    P_NO_ORCHESTRATOR,
    P_SWAP,
    PAYMENT_INTERVAL_MS,
    STATUS_INTERVAL_MS,
    Gateway,
    Orchestrator,
    World,
    b36,
)


def session(
    world: World, t0: int, max_lines: int | None = None
) -> tuple[str, list[tuple[int, str, str]]]:
    """All lines of one stream session as (arrival_ms, event_type, line), plus its scenario.

    With ``max_lines`` the session is shortened (fewer status/metrics samples) to fit.
    """
    rng = world.rng
    gw = rng.choices(world.gateways, GATEWAY_WEIGHTS)[0]
    model = rng.choice(MODELS)
    orch = rng.choice(world.by_model[model])
    if rng.random() < 0.2:  # the test streams of the Feb 2026 snapshots
        stream_id = f"aiJobTesterStream-{rng.randint(10**18, 10**19 - 1)}"
    else:
        stream_id = f"stream-{b36(rng, 6)}-{b36(rng, 8)}"
    request_id = f"{rng.getrandbits(32):08x}"
    mixed = rng.random() < P_MIXED_CASE_SESSION
    r = rng.random()
    scenario = (
        "no_orchestrator"
        if r < P_NO_ORCHESTRATOR
        else "swap"
        if r < P_NO_ORCHESTRATOR + P_SWAP
        else "ok"
    )
    duration = int(min(1_800_000, max(30_000, rng.lognormvariate(11.9, 0.6))))  # median ~150 s
    while True:
        state = rng.getstate()
        lines = _session_lines(world,
            gw, model, orch, stream_id, request_id, mixed, scenario, t0, duration
        )
        if max_lines is None or len(lines) <= max_lines or duration <= 30_000:
            return scenario, lines
        rng.setstate(state)
        duration = max(30_000, duration // 2)

def _session_lines(
    world: World,
    gw: Gateway,
    model: str,
    orch: Orchestrator,
    stream_id: str,
    request_id: str,
    mixed: bool,
    scenario: str,
    t0: int,
    duration: int,
) -> list[tuple[int, str, str]]:
    rng = world.rng
    out: list[tuple[int, str, str]] = []
    upgraded = gw.upgraded

    def emit(etype: str, ts: int, data: str) -> None:
        out.append(
            (ts + world.delay(), etype, world.envelope(gw, world.event_id(), etype, ts, data))
        )

    def addr(o: Orchestrator) -> str:
        return o.local if mixed else o.local_lc

    def trace(kind: str, ts: int, o: Orchestrator | None, runner: bool = False) -> None:
        a, u = (addr(o), o.uri) if o is not None else ("", "")
        if upgraded:
            data = (
                f'{{"orchestrator_info":{{"address":"{a}","url":"{u}"}},"stream_id":"{stream_id}",'
                f'"pipeline_id":"","type":"{kind}","request_id":"{request_id}","timestamp":{ts}}}'
            )
        else:
            data = (
                f'{{"orchestrator_info":{{"address":"{a}","url":"{u}"}},"pipeline_id":"",'
                f'"request_id":"{request_id}","stream_id":"{stream_id}","timestamp":{ts},"type":"{kind}"}}'
            )
        skew = rng.randint(10, 100) if runner else rng.randint(0, 2)
        emit("stream_trace", ts + skew, data)

    def swap(ts: int, o: Orchestrator) -> None:
        data = (
            f'{{"message":"orchestrator is slow","orchestrator_info":{{"address":"{addr(o)}",'
            f'"url":"{o.uri}"}},"pipeline":"{model}","pipeline_id":"","request_id":"{request_id}",'
            f'"stream_id":"{stream_id}","type":"orchestrator_swap"}}'
        )
        emit("stream_trace", ts, data)

    def stream_event(ts: int, message: str) -> None:
        data = (
            f'{{"capability":"","message":"{message}","pipeline":"{model}","pipeline_id":"",'
            f'"request_id":"{request_id}","stream_id":"{stream_id}","type":"error"}}'
        )
        emit("ai_stream_events", ts, data)

    session_id = f"{rng.getrandbits(32):08x}"
    manifest_id = f"35_{model}" if rng.random() < 0.5 else f"{rng.getrandbits(32):08x}"

    def payment(ts: int, o: Orchestrator, first: bool) -> None:
        req = request_id if first or rng.random() < 0.5 else ""
        data = (
            f'{{"capability":"","clientIP":"","faceValue":"2402400000000000 WEI",'
            f'"manifestID":"{manifest_id}","numTickets":"{rng.randint(1, 3)}","orchestrator":"{o.uri}",'
            f'"price":"{o.price}.021 wei/pixel","recipient":"{o.address}","requestID":"{req}",'
            f'"sender":"{gw.sender}","sessionID":"{session_id}","winProb":"0.0009990010"}}'
        )
        emit("create_new_payment", ts, data)

    # request, discovery
    trace("gateway_receive_stream_request", t0, None)
    known = [orch] + rng.sample(world.orchs, min(3, len(world.orchs)))[: rng.randint(0, 3)]
    disc = ",".join(
        f'{{"address":"{o.local_lc}","latency_ms":"{rng.randint(20, 250)}","url":"{o.uri}"}}'
        for o in known
    )
    emit("discovery_results", t0 + rng.randint(100, 400), f"[{disc}]")

    if scenario == "no_orchestrator":
        t_no = t0 + rng.randint(2, 3000)
        trace("gateway_no_orchestrators_available", t_no, None)
        stream_event(
            t_no,
            "no orchestrators available within 2s timeout"
            if rng.random() < 0.3
            else "no orchestrators available",
        )
        t_end = t_no + rng.randint(100, 3000)
        trace("gateway_ingest_stream_closed", t_end, None)
        stream_event(t_end, "mediamtx ingest disconnected")
        return out

    t_ingest = t0 + rng.randint(1500, 12_000)
    t_fp = t_ingest + rng.randint(500, 4000)
    t_end = max(t0 + duration, t_fp + 20_000)
    trace("gateway_send_first_ingest_segment", t_ingest, orch)
    trace("runner_receive_first_ingest_segment", t_ingest + rng.randint(200, 2500), orch, True)
    trace("runner_send_first_processed_segment", t_ingest + rng.randint(150, 2000), orch, True)
    trace("gateway_receive_first_processed_segment", t_fp, orch)
    trace("gateway_receive_few_processed_segments", t_fp + rng.randint(800, 4000), orch)

    # orchestrator swap: from t_swap on, samples come from the new one (or the stream ends)
    t_swap = None
    new_orch = None
    if scenario == "swap":
        t_swap = rng.randint(t_fp + 15_000, max(t_fp + 15_001, t_end - 10_000))
        swap(t_swap, orch)
        candidates = [o for o in world.by_model[model] if o is not orch]
        if candidates and rng.random() < 0.5:
            new_orch = rng.choice(candidates)
            trace(
                "gateway_send_first_ingest_segment", t_swap + rng.randint(500, 3000), new_orch
            )
            trace(
                "gateway_receive_first_processed_segment",
                t_swap + rng.randint(3000, 6000),
                new_orch,
            )
        else:
            t_no = t_swap + rng.randint(20, 2000)
            trace("gateway_no_orchestrators_available", t_no, None)
            stream_event(t_no, "no orchestrators available")
            t_end = t_no + rng.randint(5, 3000)

    def orch_at(ts: int) -> Orchestrator:
        return (
            new_orch if (t_swap is not None and new_orch is not None and ts >= t_swap) else orch
        )

    # payments
    payment(t0 + rng.randint(200, 900), orch, True)
    t = t0 + rng.randint(5000, 7000)
    while t < t_end:
        payment(t, orch_at(t), False)
        t += rng.randint(PAYMENT_INTERVAL_MS // 2, PAYMENT_INTERVAL_MS * 3 // 2)

    # ai_stream_status every ~10 s; the first sample is the 0-fps warm-up
    base_fps = rng.uniform(8.0, 26.0)
    params = '{"height":512,"width":512}' if rng.random() < 0.5 else "{}"
    params_hash = (
        "f2f41bce75e30de92f8c308a6722859b"
        if params != "{}"
        else "99914b932bd37a50b983c5e7c90ae93b"
    )
    has_error = rng.random() < 0.03
    restarts = orch.restart_count
    restart_time = t0 - rng.randint(60_000, 4 * 3_600_000) if restarts else None
    start_time = t0 + rng.randint(5, 80)
    t = start_time + STATUS_INTERVAL_MS + rng.randint(0, 30)
    last_state = start_time
    previous = start_time
    warm = True
    while t < t_end:
        o = orch_at(t)
        if warm:
            fps = 0.0
            in_fps = 0.0
            state = rng.choice(("LOADING", "LOADING", "DEGRADED_INPUT", "ONLINE"))
            warm = False
        else:
            if rng.random() < 0.05:
                fps = base_fps * rng.uniform(0.2, 0.7)
            else:
                fps = max(0.5, base_fps * (1.0 + rng.gauss(0.0, 0.08)))
            in_fps = fps if rng.random() < 0.5 else fps * rng.uniform(1.0, 1.15)
            state = "ONLINE" if fps > 0.6 * base_fps else "DEGRADED_INFERENCE"
        if state != "ONLINE" or rng.random() < 0.1:
            last_state = t - rng.randint(100, 2000)
        data_ts = t - rng.randint(0, 3)
        a = addr(o)
        last_output = t - rng.randint(10, 120)
        if upgraded:
            input_part = (
                f'{{"last_input_time":{t - rng.randint(5, 60)},"fps":{in_fps}}}'
                if in_fps
                else '{"fps":0}'
            )
            data = (
                f'{{"orchestrator_info":{{"address":"{a}","url":"{o.uri}"}},"inference_status":{{'
                f'"restart_count":{restarts},"last_output_time":{last_output},'
                + (f'"last_restart_time":{restart_time},' if restart_time else "")
                + (
                    f'"last_error":"{LAST_ERROR}","last_error_time":{t0 - 60_000},'
                    if has_error
                    else ""
                )
                + f'"fps":{fps},"last_params_hash":"{params_hash}","last_params_update_time":{start_time},'
                f'"last_params":{params}}},"input_status":{input_part},'
                f'"last_status_timestamp":{previous},"type":"status","last_state_update_time":{last_state},'
                f'"pipeline":"{model}","start_time":{start_time},"stream_id":"{stream_id}",'
                f'"pipeline_id":"","state":"{state}","request_id":"{request_id}","timestamp":{data_ts}}}'
            )
        else:
            error = f'"{LAST_ERROR}"' if has_error else "null"
            error_time = t0 - 60_000 if has_error else "null"
            last_input = t - rng.randint(5, 60) if in_fps else "null"
            data = (
                f'{{"inference_status":{{"fps":{fps},"last_error":{error},"last_error_time":{error_time},'
                f'"last_output_time":{last_output},"last_params":{params},"last_params_hash":"{params_hash}",'
                f'"last_params_update_time":{start_time},"last_restart_logs":null,'
                f'"last_restart_time":{restart_time or "null"},"restart_count":{restarts}}},'
                f'"input_status":{{"fps":{in_fps},"last_input_time":{last_input}}},'
                f'"last_state_update_time":{last_state},"last_status_timestamp":{previous},'
                f'"orchestrator_info":{{"address":"{a}","url":"{o.uri}"}},"pipeline":"{model}",'
                f'"pipeline_id":"","request_id":"{request_id}","start_time":{start_time},'
                f'"state":"{state}","stream_id":"{stream_id}","timestamp":{data_ts},"type":"status"}}'
            )
        emit("ai_stream_status", t, data)
        previous = data_ts
        t += STATUS_INTERVAL_MS + rng.randint(-5, 15)

    # stream_ingest_metrics every 5 s: cumulative counters of the peer connection
    t = t_ingest + rng.randint(2500, 5000)
    video_pps = rng.uniform(70.0, 90.0)
    audio_pps = rng.uniform(48.0, 52.0)
    byte_rate = rng.uniform(80.0, 110.0)  # bytes per ms
    lost_v = lost_a = 0
    audio_first = gw.audio_first
    quality_bad = rng.random() < 0.1
    while t < t_end:
        elapsed = (t - t_ingest) / 1000.0
        if rng.random() < 0.03:
            lost_v += rng.randint(1, 20)
        if rng.random() < 0.02:
            lost_a += rng.randint(1, 5)
        recv_v = int(video_pps * elapsed)
        recv_a = int(audio_pps * elapsed)
        loss_v = lost_v / (recv_v + lost_v) * 100 if lost_v else 0
        loss_a = lost_a / (recv_a + lost_a) * 100 if lost_a else 0
        video = (
            f'{{"type":"video","jitter":{rng.uniform(3.0, 30.0)},"packets_lost":{lost_v},'
            f'"packets_received":{recv_v},"packet_loss_pct":{loss_v},"rtt":0,'
            f'"last_input_ts":{round(elapsed - rng.uniform(0.05, 0.2), 3)},"last_output_ts":0,"latency":0}}'
        )
        audio = (
            f'{{"type":"audio","jitter":{rng.uniform(15.0, 25.0)},"packets_lost":{lost_a},'
            f'"packets_received":{recv_a},"packet_loss_pct":{loss_a},"rtt":0,'
            f'"last_input_ts":{round(elapsed - rng.uniform(0.05, 0.2), 4)},"last_output_ts":0,"latency":0}}'
        )
        tracks = f"{audio},{video}" if audio_first else f"{video},{audio}"
        quality = rng.choice(("fair", "poor")) if quality_bad and rng.random() < 0.5 else "good"
        data = (
            f'{{"pipeline_id":"","request_id":"{request_id}","stats":{{"peer_conn_stats":{{"ID":"iceTransport",'
            f'"BytesReceived":{int(byte_rate * (t - t_ingest))},"BytesSent":{int(0.7 * (t - t_ingest))}}},'
            f'"track_stats":[{tracks}],"conn_quality":"{quality}"}},"stream_id":"{stream_id}","timestamp":{t}}}'
        )
        emit("stream_ingest_metrics", t + rng.randint(0, 1), data)
        t += INGEST_INTERVAL_MS + rng.randint(0, 1)

    trace("gateway_ingest_stream_closed", t_end, None)
    stream_event(t_end, "mediamtx ingest disconnected")
    return out
