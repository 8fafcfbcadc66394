# events-gen.awk: n JSONL trace events of a made-up multi-agent application
# (awk -v n=1000000 -f bench/events-gen.awk), deterministic: routes, tool
# calls, handoffs, guardrails, self-checks, turn starts and ends.
BEGIN {
	srand(42)
	split("triage billing refunds search planner writer", agents, " ")
	split("search_docs get_order refund lookup_user send_email calc", tools, " ")
	split("pii toxicity jailbreak topic", gates, " ")
	split("pass retry fail", checks, " ")
	t0 = 1795490400
	for (i = 0; i < n; i++) {
		sid = "s" int(i / 40); tid = "t" int(i / 8); tr = sprintf("%032x", int(i / 8))
		ts = sprintf("2026-11-24T%02d:%02d:%02d.%03dZ", int(i / 3600000) % 24, int(i / 60000) % 60, int(i / 1000) % 60, i % 1000)
		k = i % 8; a = agents[1 + int(rand() * 6)]
		if (k == 0) { ev = "turn_start"; md = sprintf("{\"agent\":\"%s\"}", a) }
		else if (k == 1) { ev = "route"; md = sprintf("{\"agent\":\"triage\",\"selected_agent\":\"%s\",\"confidence\":%.2f,\"latency_ms\":%d}", a, rand(), int(rand() * 50)) }
		else if (k == 2 || k == 3) { st = rand() < 0.9 ? "ok" : "error"; md = sprintf("{\"agent\":\"%s\",\"tool\":\"%s\",\"status\":\"%s\",\"latency_ms\":%.1f}", a, tools[1 + int(rand() * 6)], st, rand() * 3000); ev = "tool_call" }
		else if (k == 4) { ev = "handoff"; md = sprintf("{\"from_agent\":\"%s\",\"to_agent\":\"%s\",\"reason\":\"escalation\"}", a, agents[1 + int(rand() * 6)]) }
		else if (k == 5) { ev = "guardrail"; d = rand() < 0.95 ? "allow" : "block"; md = sprintf("{\"agent\":\"%s\",\"gate\":\"%s\",\"decision\":\"%s\",\"reason\":\"%s\"}", a, gates[1 + int(rand() * 4)], d, d == "allow" ? "ok" : "policy") }
		else if (k == 6) { ev = "self_check"; md = sprintf("{\"agent\":\"%s\",\"decision\":\"%s\",\"score\":%.3f}", a, checks[1 + int(rand() * 3)], rand()) }
		else { ev = "turn_end"; md = sprintf("{\"agent\":\"%s\",\"duration_ms\":%d}", a, int(rand() * 20000)) }
		printf "{\"ts\":\"%s\",\"event\":\"%s\",\"trace_id\":\"%s\",\"session_id\":\"%s\",\"turn_id\":\"%s\",\"metadata\":%s}\n", ts, ev, tr, sid, tid, md
	}
}
