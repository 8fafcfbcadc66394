# views.bash: a prepared store for the operator views (t/0700, t/0710):
# five sessions of agent "default" with their calls, ticks, metrics and
# budget, at NOW = 2026-11-24T03:20:00Z.  Portable SQL (SQLite and PostgreSQL).

NOW=1795490400   # 2026-11-24T03:20:00Z

# iso SECONDS: the time as the views print it (RFC 3339 UTC)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

tgate() { # tgate PASSED ACC LOSS DEC: a training gate verdict
	local p=$1 a=$2 l=$3 d=$4 lp=true reason=passed detail='all checks passed'
	[ "$p" = true ] || { lp=false reason=loss_too_high detail="loss $l > 0.8"; }
	printf '{"gate":"training","passed":%s,"reason":"%s","detail":"%s","checks":[{"name":"accuracy","value":%s,"op":">=","threshold":0.45,"passed":true},{"name":"loss","value":%s,"op":"<=","threshold":0.8,"passed":%s},{"name":"loss_decrease","value":%s,"op":">=","threshold":0.2,"passed":true}]}' \
		"$p" "$reason" "$detail" "$a" "$l" "$lp" "$d"
}

bgate() { # bgate PASSED WIN DD SHARPE
	local p=$1 w=$2 dd=$3 s=$4 wp=true reason=passed detail='all checks passed'
	[ "$p" = true ] || { wp=false reason=win_rate_too_low detail="win_rate $w < 0.45"; }
	printf '{"gate":"backtest","passed":%s,"reason":"%s","detail":"%s","checks":[{"name":"win_rate","value":%s,"op":">=","threshold":0.45,"passed":%s},{"name":"max_drawdown","value":%s,"op":"<=","threshold":0.4,"passed":true},{"name":"sharpe_ratio","value":%s,"op":">=","threshold":-0.5,"passed":true}]}' \
		"$p" "$reason" "$detail" "$w" "$wp" "$dd" "$s"
}

seed_views() {
	local n=$NOW
	sql "INSERT INTO agent_sessions (id, agent, phase, outcome, strategy_name, strategy_config, strategy_path,
	       training_operation_id, training_results, backtest_operation_id, backtest_results, assessment,
	       training_gate, backtest_gate, failure_reason, designing_at, training_at, backtesting_at,
	       assessing_at, created_at, updated_at, completed_at) VALUES
	 (1, 'default', 'idle', 'success', 'alpha', '{\"name\":\"alpha\",\"description\":\"RSI turns\",\"indicators\":[{\"name\":\"rsi\",\"feature_id\":\"rsi_14\"},{\"name\":\"atr\",\"feature_id\":\"atr_14\"}],\"training_data\":{\"symbols\":{\"list\":[\"AAPL\"]},\"timeframes\":{\"list\":[\"1h\"]}},\"model\":{\"type\":\"mlp\",\"training\":{\"epochs\":50}}}',
	  '/s/alpha.yaml', 'op_training_1', '{\"test_metrics\":{\"test_accuracy\":0.61,\"test_loss\":0.52},\"training_metrics\":{\"epochs_trained\":48}}',
	  'op_backtesting_1', '{\"metrics\":{\"sharpe_ratio\":1.25,\"win_rate\":0.58,\"max_drawdown_pct\":0.21,\"total_trades\":120,\"profit_factor\":1.6,\"total_return_pct\":0.07}}',
	  '{\"verdict\":\"promising\",\"strengths\":[\"steady gains\"],\"weaknesses\":[\"one symbol\"],\"suggestions\":[\"try MSFT\"]}',
	  '$(tgate true 0.61 0.52 0.35)', '$(bgate true 0.58 0.21 1.25)', NULL,
	  $((n - 7200)), $((n - 7000)), $((n - 5000)), $((n - 3700)), $((n - 7200)), $((n - 3600)), $((n - 3600))),
	 (2, 'default', 'idle', 'failed_backtest_gate', 'beta', NULL, NULL, 'op_training_2', NULL, 'op_backtesting_2', NULL, NULL,
	  '$(tgate true 0.55 0.6 0.3)', '$(bgate false 0.3 0.1 -0.2)', 'win_rate 0.3 < 0.45',
	  $((n - 3500)), $((n - 3400)), $((n - 3200)), NULL, $((n - 3500)), $((n - 3000)), $((n - 3000))),
	 (3, 'default', 'idle', 'failed_training_gate', 'gamma', NULL, NULL, 'op_training_3', NULL, NULL, NULL, NULL,
	  '$(tgate false 0.5 1.2 0.1)', NULL, 'loss 1.2 > 0.8',
	  $((n - 2900)), $((n - 2800)), NULL, NULL, $((n - 2900)), $((n - 2500)), $((n - 2500))),
	 (4, 'default', 'idle', 'cancelled', 'delta', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, 'cancelled by the operator',
	  $((n - 2400)), NULL, NULL, NULL, $((n - 2400)), $((n - 2000)), $((n - 2000))),
	 (5, 'default', 'training', NULL, 'epsilon', NULL, NULL, 'op_training_5', NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, $((n - 1800)), $((n - 1200)), NULL, NULL, $((n - 1800)), $((n - 60)), NULL),
	 (6, 'other', 'idle', 'success', 'zeta', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, $((n - 900)), NULL, NULL, NULL, $((n - 900)), $((n - 800)), $((n - 800)))" >/dev/null
	sql "UPDATE agent_sessions SET progress = '{\"operation_id\":\"op_training_5\",\"status\":\"running\",\"percentage\":45,\"current_step\":\"Epoch 45/100\",\"steps_completed\":45,\"steps_total\":100,\"updated_at\":$((n - 60))}' WHERE id = 5" >/dev/null
	sql "INSERT INTO agent_metrics (session_id, agent, outcome, strategy_name, cycle_started_at, cycle_completed_at,
	       cycle_seconds, training_accuracy, training_loss, training_epochs, backtest_sharpe, backtest_win_rate,
	       backtest_max_drawdown, backtest_trades, backtest_profit_factor, invocations, cost_micros) VALUES
	 (1, 'default', 'success', 'alpha', $((n - 7200)), $((n - 3600)), 3600, 0.61, 0.52, 48, 1.25, 0.58, 0.21, 120, 1.6, 3, 123456)" >/dev/null
	sql "INSERT INTO agent_triggers (id, agent, tick_id, at, event, action, reason, session_id, invoked, skip_reason,
	       duration_ms, exit_status) VALUES
	 (1, 'default', 'tk1', $((n - 7200)), 'start_new_cycle', 'invoke', 'no_active_session', 1, true, NULL, 120, 0),
	 (2, 'default', 'tk2', $((n - 3700)), 'backtest_completed', 'end', 'assessment_saved', 1, true, NULL, 90, 0),
	 (3, 'default', 'tk3', $((n - 1800)), 'start_new_cycle', 'wait', 'training_started', 5, true, NULL, 150, 0),
	 (4, 'default', 'tk4', $((n - 300)), 'training_running', 'wait', 'operation_still_running', 5, false, 'operation_still_running', 8, 0),
	 (5, 'other', 'tk5', $((n - 900)), 'start_new_cycle', 'invoke', 'no_active_session', 6, true, NULL, 100, 0)" >/dev/null
	sql "INSERT INTO agent_invocations (id, agent, session_id, tick_id, kind, model, stop_reason, input_tokens,
	       output_tokens, cache_write_tokens, cache_read_tokens, cost_micros, duration_ms, status, error, created_at) VALUES
	 (1, 'default', 1, 'tk1', 'design', 'claude-opus-4-5-20251101', 'tool_use', 1000, 200, 50, 300, 100000, 900, 'ok', NULL, $((n - 7200))),
	 (2, 'default', 1, 'tk1', 'design', 'claude-opus-4-5-20251101', 'end_turn', 1200, 100, 0, 300, 13456, 400, 'ok', NULL, $((n - 7200))),
	 (3, 'default', 1, 'tk2', 'assessment', 'claude-opus-4-5-20251101', 'end_turn', 900, 80, 0, 0, 10000, 300, 'ok', NULL, $((n - 3700))),
	 (4, 'default', 5, 'tk3', 'design', 'claude-opus-4-5-20251101', 'tool_use', 800, 90, 0, 0, 20000, 500, 'error', 'overloaded', $((n - 1800)))" >/dev/null
	sql "INSERT INTO agent_actions (id, agent, session_id, invocation_id, tick_id, tool_use_id, tool_name, arguments,
	       result, success, error, duration_ms, created_at) VALUES
	 (1, 'default', 1, 1, 'tk1', 'tu1', 'save_strategy_config', '{}', '{}', true, NULL, 40, $((n - 7200))),
	 (2, 'default', 1, 1, 'tk1', 'tu2', 'start_training', '{}', '{}', true, NULL, 12, $((n - 7200))),
	 (3, 'default', 1, 3, 'tk2', 'tu3', 'save_assessment', '{}', '{}', true, NULL, 5, $((n - 3700))),
	 (4, 'default', 5, 4, 'tk3', 'tu4', 'start_training', '{}', NULL, false, 'backend: HTTP 503', 30, $((n - 1800)))" >/dev/null
	sql "INSERT INTO agent_budget (agent, day, limit_micros, spent_micros, held_micros, tokens_used, invocations,
	       cycles_started, cycles_completed, created_at, updated_at)
	     VALUES ('default', '2026-11-24', 5000000, 1234567, 0, 4620, 4, 5, 4, $((n - 7200)), $((n - 60)))" >/dev/null
	sql "INSERT INTO agent_state (agent, paused, last_tick_at, updated_at) VALUES ('default', false, $((n - 300)), $((n - 300)))" >/dev/null
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		# explicit ids: move the sequences past them
		sql "SELECT setval(pg_get_serial_sequence('$(echo agent_sessions)', 'id'), 100)" >/dev/null
		local t
		for t in agent_triggers agent_invocations agent_actions; do
			sql "SELECT setval(pg_get_serial_sequence('$t', 'id'), 100)" >/dev/null
		done
	fi
}

# tty CMD...: runs CMD under a pseudo-terminal (script), output with CRs removed.
tty() {
	local q
	printf -v q '%q ' "$@"
	script -qec "$q" /dev/null | tr -d '\r'
	return "${PIPESTATUS[0]}"
}
