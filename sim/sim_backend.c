/* sim_backend: the research backend's operations API over simulated time. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/json.h"
#include "sim_int.h"

#define TRAINING_SECONDS 600.0
#define BACKTEST_SECONDS 300.0
#define EPOCHS 100
#define NEVER 2.0   /* fail_at beyond any progress */

/* ktrdr/api/models/operations.py OperationStatus (less "resuming", which
 * this simulator passes through between a resume and the next read) */
static const char *const status_names[] = {
	"pending", "running", "completed", "failed", "cancelled",
};

static double r4(double x)
{
	return round(x * 1e4) / 1e4;
}

static int terminal(const struct sim_op *op)
{
	return op->status >= SIM_COMPLETED;
}

/* ---- outcomes ------------------------------------------------------------ */

/*
 * Trainings come in blocks of four and backtests in blocks of three; in each
 * block exactly one fails its gate, at a position drawn from the seed.  So
 * the mix is exact over any block.  With the default seed (1): training 1
 * fails its gate (test loss), trainings 2 and 3 pass; backtest 1 fails its
 * gate (win rate), backtest 2 passes.  agent-sim(1) documents this and
 * t/0300-agent-sim.bats holds it.
 */
static int training_fails(uint64_t seed, uint64_t seq)
{
	return sim_hash(seed, 0x7a1, (seq - 1) / 4) % 4 == (seq - 1) % 4;
}

static int backtest_fails(uint64_t seed, uint64_t seq)
{
	return sim_hash(seed, 0x8b1, (seq - 1) / 3) % 3 == (seq - 1) % 3;
}

/* A curve from a to b over frac 0..1 that moves fast first, as losses do. */
static double curve(double a, double b, double frac)
{
	double k = 4.0;

	return b + (a - b) * (exp(-k * frac) - exp(-k)) / (1 - exp(-k));
}

/* The request's date, else the worker's default (training_worker.py) */
static const char *req_date(const struct sim_op *op, const char *k, const char *dflt)
{
	static char buf[2][32];
	static int which;
	char *v = json_string(op->request, k);
	char *b = buf[which++ & 1];

	snprintf(b, sizeof buf[0], "%.31s", v ? v : dflt);
	free(v);
	return b;
}

static jv training_result(struct sim *s, const struct sim_op *op)
{
	uint64_t st = sim_hash(s->cfg.seed, 0x7a2, op->seq);
	int fails = training_fails(s->cfg.seed, op->seq);
	int mode = fails ? 1 + (int)(sim_hash(s->cfg.seed, 0x7a3, op->seq) % 3) : 0;
	double init = mode == 3 ? sim_range(&st, 0.80, 0.90) : sim_range(&st, 0.98, 1.12);
	double dec = mode == 3 ? sim_range(&st, 0.04, 0.14) : sim_range(&st, 0.30, 0.52);
	double fin = init * (1 - dec);
	double acc = mode == 1 ? sim_range(&st, 0.33, 0.43) : sim_range(&st, 0.50, 0.66);
	double tloss = mode == 2 ? sim_range(&st, 0.84, 1.05)
		     : mode == 3 ? sim_range(&st, 0.66, 0.78) : sim_range(&st, 0.48, 0.74);
	double tacc = acc + sim_range(&st, 0.02, 0.07);
	jv tl = jv_array(), ta = jv_array(), vl = jv_array(), va = jv_array();
	jv tm = jv_object(), hist = jv_object(), test = jv_object(), r = jv_object(), x;
	double best_t = 0, best_v = 0, vloss = 0, vacc = 0;
	char *strategy = json_string(op->request, "strategy_name");
	jv sym = json_get(jv_copy(op->request), "symbols"), tf;
	char path[300];

	for (int e = 0; e < op->steps; e++) {
		double f = op->steps > 1 ? (double)e / (op->steps - 1) : 1;
		double wob = e == 0 || e == op->steps - 1 ? 0 : sim_range(&st, -0.008, 0.008);
		double l = e == 0 ? init : e == op->steps - 1 ? fin : curve(init, fin, f) + wob;
		double a = curve(0.34, tacc, f) + (e == op->steps - 1 ? 0 : wob);

		vloss = l * sim_range(&st, 1.02, 1.07);
		vacc = a - sim_range(&st, 0.01, 0.03);
		best_t = fmax(best_t, a);
		best_v = fmax(best_v, vacc);
		tl = jv_array_append(tl, jv_number(r4(l)));
		ta = jv_array_append(ta, jv_number(r4(a)));
		vl = jv_array_append(vl, jv_number(r4(vloss)));
		va = jv_array_append(va, jv_number(r4(vacc)));
	}
	hist = json_set(hist, "train_loss", tl);
	hist = json_set(hist, "train_accuracy", ta);
	hist = json_set(hist, "val_loss", vl);
	hist = json_set(hist, "val_accuracy", va);
	tm = json_set(tm, "epochs_trained", jv_number(op->steps));
	tm = json_set(tm, "final_train_loss", jv_number(r4(fin)));
	tm = json_set(tm, "final_train_accuracy", jv_number(r4(tacc)));
	tm = json_set(tm, "best_train_accuracy", jv_number(r4(best_t)));
	tm = json_set(tm, "training_time", jv_number(round(op->duration * 10) / 10));
	tm = json_set(tm, "final_val_loss", jv_number(r4(vloss)));
	tm = json_set(tm, "final_val_accuracy", jv_number(r4(vacc)));
	tm = json_set(tm, "best_val_accuracy", jv_number(r4(best_v)));
	tm = json_set(tm, "history", hist);
	test = json_set(test, "test_accuracy", jv_number(r4(acc)));
	test = json_set(test, "test_loss", jv_number(r4(tloss)));
	test = json_set(test, "precision", jv_number(r4(acc + sim_range(&st, -0.03, 0.03))));
	test = json_set(test, "recall", jv_number(r4(acc + sim_range(&st, -0.04, 0.02))));
	test = json_set(test, "f1_score", jv_number(r4(acc + sim_range(&st, -0.03, 0.01))));
	sym = jv_array_get(sym, 0);
	tf = jv_array_get(json_get(jv_copy(op->request), "timeframes"), 0);
	/* training/model_storage.py: a directory models/{strategy}/{tf}_v{N} */
	snprintf(path, sizeof path, "models/%s/%s_v1", strategy ? strategy : "strategy",
		 jv_get_kind(tf) == JV_KIND_STRING ? jv_string_value(tf) : "1h");
	jv_free(sym);
	jv_free(tf);
	r = json_set(r, "model_path", jv_string(path));
	r = json_set(r, "training_metrics", tm);
	r = json_set(r, "test_metrics", test);
	/* the rest of local_orchestrator.py's result */
	r = json_set(r, "artifacts", json_set(json_set(jv_object(), "feature_importance", jv_null()),
					      "per_symbol_metrics", jv_null()));
	x = jv_object();
	x = json_set(x, "parameters_count", jv_number(1200 + (double)(st % 4000)));
	x = json_set(x, "trainable_parameters", jv_number(1200 + (double)(st % 4000)));
	x = json_set(x, "architecture", jv_string("v3_mlp"));
	r = json_set(r, "model_info", x);
	x = jv_object();
	x = json_set(x, "symbols", json_get(jv_copy(op->request), "symbols"));
	x = json_set(x, "timeframes", json_get(jv_copy(op->request), "timeframes"));
	x = json_set(x, "start_date", jv_string(req_date(op, "start_date", "2020-01-01")));
	x = json_set(x, "end_date", jv_string(req_date(op, "end_date", "2024-12-31")));
	x = json_set(x, "total_samples", jv_number(17000 + (double)(st % 4000)));
	x = json_set(x, "feature_count", jv_number(6 + (double)(st % 7)));
	r = json_set(r, "data_summary", x);
	x = jv_object();
	x = json_set(x, "operation_id", jv_string(op->id));
	x = json_set(x, "strategy_name", jv_string(strategy ? strategy : "strategy"));
	x = json_set(x, "symbols", json_get(jv_copy(op->request), "symbols"));
	x = json_set(x, "timeframes", json_get(jv_copy(op->request), "timeframes"));
	x = json_set(x, "training_mode", jv_string("local"));
	x = json_set(x, "use_host_service", jv_false());
	x = json_set(x, "start_date", jv_string(req_date(op, "start_date", "2020-01-01")));
	x = json_set(x, "end_date", jv_string(req_date(op, "end_date", "2024-12-31")));
	r = json_set(r, "session_info", x);
	r = json_set(r, "resource_usage", json_set(jv_object(), "training_mode", jv_string("local")));
	free(strategy);
	return r;
}

static jv backtest_result(struct sim *s, const struct sim_op *op)
{
	uint64_t st = sim_hash(s->cfg.seed, 0x8b2, op->seq);
	int fails = backtest_fails(s->cfg.seed, op->seq);
	int mode = fails ? 1 + (int)(sim_hash(s->cfg.seed, 0x8b3, op->seq) % 3) : 0;
	double cap = 100000, ic, win, dd, sharpe, pf, ret, vol, avg_win, avg_loss;
	int trades, winning;
	jv m = jv_object(), r = jv_object(), c = jv_object(), x;

	if (json_number(op->request, "initial_capital", &ic) && ic > 0)
		cap = ic;
	win = mode == 1 ? sim_range(&st, 0.30, 0.42) : sim_range(&st, 0.47, 0.62);
	dd = mode == 2 ? sim_range(&st, 0.43, 0.62) : sim_range(&st, 0.06, 0.32);
	sharpe = mode == 3 ? sim_range(&st, -1.6, -0.65)
	       : mode == 1 ? sim_range(&st, -0.4, 0.5) : sim_range(&st, 0.35, 2.1);
	trades = (int)sim_range(&st, 35, 180);
	winning = (int)lround(trades * win);
	pf = sharpe > 0 ? sim_range(&st, 1.05, 1.9) : sim_range(&st, 0.6, 0.98);
	ret = sharpe * sim_range(&st, 0.03, 0.08);
	vol = sim_range(&st, 0.10, 0.30);
	avg_win = cap * sim_range(&st, 0.004, 0.012);
	avg_loss = -avg_win * win / (1 - win) / pf;
	m = json_set(m, "total_return", jv_number(round(cap * ret * 100) / 100));
	m = json_set(m, "total_return_pct", jv_number(r4(ret)));
	m = json_set(m, "annualized_return", jv_number(r4(ret * 2)));
	m = json_set(m, "volatility", jv_number(r4(vol)));
	m = json_set(m, "sharpe_ratio", jv_number(r4(sharpe)));
	m = json_set(m, "max_drawdown", jv_number(round(cap * dd * 100) / 100));
	m = json_set(m, "max_drawdown_pct", jv_number(r4(dd)));
	m = json_set(m, "calmar_ratio", jv_number(r4(ret * 2 / dd)));
	m = json_set(m, "sortino_ratio", jv_number(r4(sharpe * 1.3)));
	m = json_set(m, "recovery_factor", jv_number(r4(ret / dd)));
	m = json_set(m, "total_trades", jv_number(trades));
	m = json_set(m, "winning_trades", jv_number(winning));
	m = json_set(m, "losing_trades", jv_number(trades - winning));
	m = json_set(m, "win_rate", jv_number(r4(win)));
	m = json_set(m, "profit_factor", jv_number(r4(pf)));
	m = json_set(m, "avg_holding_period", jv_number(r4(sim_range(&st, 4, 30))));
	m = json_set(m, "avg_win", jv_number(round(avg_win * 100) / 100));
	m = json_set(m, "avg_loss", jv_number(round(avg_loss * 100) / 100));
	m = json_set(m, "largest_win", jv_number(round(avg_win * sim_range(&st, 2.5, 5) * 100) / 100));
	m = json_set(m, "largest_loss", jv_number(round(avg_loss * sim_range(&st, 2.5, 5) * 100) / 100));
	r = json_set(r, "strategy_name", json_get(jv_copy(op->request), "strategy_name"));
	r = json_set(r, "symbol", json_get(jv_copy(op->request), "symbol"));
	r = json_set(r, "timeframe", json_get(jv_copy(op->request), "timeframe"));
	r = json_set(r, "start_time", json_get(jv_copy(op->request), "start_date"));
	r = json_set(r, "end_time", json_get(jv_copy(op->request), "end_date"));
	r = json_set(r, "execution_time_seconds", jv_number(round(op->duration * 10) / 10));
	c = json_set(c, "initial_capital", jv_number(cap));
	x = json_get(jv_copy(op->request), "commission");
	c = json_set(c, "commission", jv_is_valid(x) ? x : (jv_free(x), jv_number(0.001)));
	x = json_get(jv_copy(op->request), "slippage");
	c = json_set(c, "slippage", jv_is_valid(x) ? x : (jv_free(x), jv_number(0.001)));
	c = json_set(c, "start_date", json_get(jv_copy(op->request), "start_date"));
	c = json_set(c, "end_date", json_get(jv_copy(op->request), "end_date"));
	r = json_set(r, "config", c);
	r = json_set(r, "metrics", m);
	r = json_set(r, "trade_count", jv_number(trades));
	r = json_set(r, "equity_curve_length", jv_number(op->steps));
	return r;
}

/* ---- the life of an operation --------------------------------------------- */

static double progress_at(const struct sim_op *op, double t)
{
	double p = op->base + (t - op->t_run) / op->duration;

	return t < op->t_run ? op->base : p > 1 ? 1 : p;
}

/* Brings the status up to simulated time `now`; transitions happen lazily. */
static void advance(struct sim_op *op, double now)
{
	double end, t_end;

	if (terminal(op) || now < op->t_run)
		return;
	if (op->status == SIM_PENDING) {
		op->status = SIM_RUNNING;
		op->t_started = op->t_run;
		op->started = 1;
	}
	end = op->fail_at < 1 ? op->fail_at : 1;
	t_end = op->t_run + (end - op->base) * op->duration;
	if (now < t_end)
		return;
	op->progress = end;
	op->t_done = t_end;
	if (op->fail_at < 1) {
		int step = (int)floor(end * op->steps);

		op->status = SIM_FAILED;
		if (op->runtime_error[0])
			snprintf(op->error, sizeof op->error, "%s", op->runtime_error);
		else if (op->type == SIM_TRAINING)
			snprintf(op->error, sizeof op->error, "Training failed at epoch %d/%d: "
				 "worker process exited unexpectedly%s", step, op->steps,
				 op->checkpoint ? " (checkpoint saved)" : "");
		else
			snprintf(op->error, sizeof op->error, "Backtest failed at bar %d/%d: "
				 "worker process exited unexpectedly%s", step, op->steps,
				 op->checkpoint ? " (checkpoint saved)" : "");
	} else {
		op->status = SIM_COMPLETED;
	}
}

static void op_free(struct sim_op *op)
{
	jv_free(op->request);
	free(op);
}

static struct sim_op *find(struct sim *s, const char *id)
{
	for (int i = 0; i < s->nops; i++)
		if (strcmp(s->ops[i]->id, id) == 0)
			return s->ops[i];
	return NULL;
}

/* Keeps at most SIM_MAX_OPS, dropping the oldest finished one. */
static int make_room(struct sim *s, double now)
{
	if (s->nops < SIM_MAX_OPS)
		return 0;
	for (int i = 0; i < s->nops; i++) {
		advance(s->ops[i], now);
		if (terminal(s->ops[i])) {
			op_free(s->ops[i]);
			memmove(&s->ops[i], &s->ops[i + 1], (size_t)(s->nops - i - 1) * sizeof s->ops[0]);
			s->nops--;
			return 0;
		}
	}
	return -1;
}

static struct sim_op *op_new(struct sim *s, enum sim_op_type type, jv request, int steps)
{
	struct sim_op *op = calloc(1, sizeof *op);
	uint64_t st, n;
	struct sim_hit hit;
	char day[32];
	int64_t wall;
	time_t t;
	struct tm tm;

	if (!op) {
		jv_free(request);
		return NULL;
	}
	op->type = type;
	op->request = request;
	op->seq = type == SIM_TRAINING ? ++s->n_trainings : ++s->n_backtests;
	n = s->n_trainings + s->n_backtests;
	st = sim_hash(s->cfg.seed, type == SIM_TRAINING ? 0x7a4 : 0x8b4, op->seq);
	/* a training's time goes with its epochs (TRAINING_SECONDS for 100) */
	op->duration = (type == SIM_TRAINING ? TRAINING_SECONDS * fmax(steps, 10) / EPOCHS
					     : BACKTEST_SECONDS) * sim_range(&st, 0.9, 1.1);
	op->steps = steps;
	op->t_created = sim_now(s);
	op->t_run = op->t_created + fmin(2.0, op->duration * 0.01);
	op->fail_at = NEVER;
	sim_fault_take(s, SIM_STAGE_OP, type == SIM_TRAINING ? "training" : "backtest", "POST", 0, &hit);
	if (hit.action) {
		op->fail_at = sim_range(&st, 0.3, 0.7);
		op->checkpoint = hit.f.checkpoint;
	}
	wall = sim_wall_us(s, op->t_created);
	t = (time_t)(wall / 1000000);
	gmtime_r(&t, &tm);
	strftime(day, sizeof day, "%Y%m%d_%H%M%S", &tm);
	snprintf(op->id, sizeof op->id, "op_%s_%s_%08llx",
		 type == SIM_TRAINING ? "training" : "backtesting", day,
		 (unsigned long long)(sim_hash(s->cfg.seed, 0x0b1d, n) & 0xffffffffu));
	{
		char *parent = json_string(request, "parent_operation_id");

		if (parent)
			snprintf(op->parent, sizeof op->parent, "%s", parent);
		free(parent);
	}
	s->ops[s->nops++] = op;
	return op;
}

static jv iso_or_null(struct sim *s, double t, int set)
{
	char b[32];

	return set ? jv_string(sim_iso(sim_wall_us(s, t), b)) : jv_null();
}

static void step_text(const struct sim_op *op, double p, char *buf, size_t size, int *done)
{
	*done = (int)floor(p * op->steps + 1e-9);
	if (op->status == SIM_PENDING)
		snprintf(buf, size, "Waiting to start");
	else if (op->type == SIM_TRAINING)
		snprintf(buf, size, "Epoch %d/%d", *done, op->steps);
	else
		snprintf(buf, size, "Bar %d/%d", *done, op->steps);
}

static jv op_json(struct sim *s, struct sim_op *op)
{
	double p = terminal(op) ? op->progress : progress_at(op, sim_now(s));
	jv v = jv_object(), pr = jv_object(), md = jv_object(), params = jv_object();
	char step[64];
	int done;

	step_text(op, p, step, sizeof step, &done);
	v = json_set(v, "operation_id", jv_string(op->id));
	v = json_set(v, "parent_operation_id", op->parent[0] ? jv_string(op->parent) : jv_null());
	v = json_set(v, "operation_type", jv_string(op->type == SIM_TRAINING ? "training" : "backtesting"));
	v = json_set(v, "status", jv_string(status_names[op->status]));
	v = json_set(v, "created_at", iso_or_null(s, op->t_created, 1));
	v = json_set(v, "started_at", iso_or_null(s, op->t_started, op->started));
	v = json_set(v, "completed_at", iso_or_null(s, op->t_done, terminal(op)));
	pr = json_set(pr, "percentage", jv_number(round(p * 1000) / 10));
	pr = json_set(pr, "current_step", jv_string(step));
	pr = json_set(pr, "steps_completed", jv_number(done));
	pr = json_set(pr, "steps_total", jv_number(op->steps));
	pr = json_set(pr, "items_processed", jv_number(done));
	if (op->type == SIM_TRAINING)  /* progress_bridge.py on_epoch */
		pr = json_set(pr, "context", json_set(json_set(jv_object(), "epoch_index", jv_number(done)),
						      "total_epochs", jv_number(op->steps)));
	v = json_set(v, "progress", pr);
	if (op->type == SIM_TRAINING) {
		jv syms = json_get(jv_copy(op->request), "symbols");
		jv tfs = json_get(jv_copy(op->request), "timeframes");

		md = json_set(md, "symbol", jv_array_get(jv_copy(syms), 0));
		md = json_set(md, "timeframe", jv_array_get(jv_copy(tfs), 0));
		params = json_set(params, "symbols", syms);
		params = json_set(params, "timeframes", tfs);
		params = json_set(params, "worker_id", jv_string("training-worker-sim"));
		{
			/* the first 100 characters of the strategy, as the worker keeps them */
			char *name = json_string(op->request, "strategy_name");

			params = json_set(params, "strategy_yaml", jv_string_fmt("name: %.80s", name ? name : ""));
			free(name);
		}
	} else {
		md = json_set(md, "symbol", json_get(jv_copy(op->request), "symbol"));
		md = json_set(md, "timeframe", json_get(jv_copy(op->request), "timeframe"));
		params = json_set(params, "initial_capital", jv_number(100000));
		params = jv_object_merge(params, jv_copy(op->request));
		params = jv_object_delete(params, jv_string("symbol"));
		params = jv_object_delete(params, jv_string("timeframe"));
	}
	md = json_set(md, "mode", jv_string("local"));
	{
		jv sd = json_get(jv_copy(op->request), "start_date");
		jv ed = json_get(jv_copy(op->request), "end_date");

		md = json_set(md, "start_date", jv_is_valid(sd) ? sd : (jv_free(sd), jv_string(req_date(op, "start_date", "2020-01-01"))));
		md = json_set(md, "end_date", jv_is_valid(ed) ? ed : (jv_free(ed), jv_string(req_date(op, "end_date", "2024-12-31"))));
		if (op->type == SIM_TRAINING) {
			params = json_set(params, "start_date", json_get(jv_copy(md), "start_date"));
			params = json_set(params, "end_date", json_get(jv_copy(md), "end_date"));
		}
	}
	params = json_set(params, "strategy_name", json_get(jv_copy(op->request), "strategy_name"));
	if (op->type != SIM_TRAINING) {
		params = jv_object_delete(params, jv_string("start_date"));
		params = jv_object_delete(params, jv_string("end_date"));
	}
	params = jv_object_delete(params, jv_string("parent_operation_id"));
	md = json_set(md, "parameters", params);
	v = json_set(v, "metadata", md);
	v = json_set(v, "error_message", op->error[0] ? jv_string(op->error) : jv_null());
	v = json_set(v, "warnings", jv_array());
	v = json_set(v, "errors", op->error[0] ? jv_array_append(jv_array(), jv_string(op->error)) : jv_array());
	v = json_set(v, "result_summary", op->status != SIM_COMPLETED ? jv_null()
		     : op->type == SIM_TRAINING ? training_result(s, op) : backtest_result(s, op));
	v = json_set(v, "metrics", jv_object());
	/* OperationInfo has no checkpoint field: GET /checkpoints/{id} says */
	v = json_set(v, "is_backend_local", jv_false());
	return v;
}

/* ---- validation, FastAPI style -------------------------------------------- */

static jv verr(jv list, const char *type, const char *field, const char *msg, jv input)
{
	jv it = jv_object(), loc = jv_array_append(jv_array(), jv_string("body"));

	if (field)
		loc = jv_array_append(loc, jv_string(field));
	it = json_set(it, "type", jv_string(type));
	it = json_set(it, "loc", loc);
	it = json_set(it, "msg", jv_string(msg));
	it = json_set(it, "input", input);
	return jv_array_append(list, it);
}

static jv need_string(jv errs, jv body, const char *k, int required)
{
	jv x = jv_object_get(jv_copy(body), jv_string(k));

	if (!jv_is_valid(x)) {
		jv_free(x);
		return required ? verr(errs, "missing", k, "Field required", jv_copy(body)) : errs;
	}
	if (jv_get_kind(x) != JV_KIND_STRING)
		return verr(errs, "string_type", k, "Input should be a valid string", x);
	if (required && jv_string_length_bytes(jv_copy(x)) == 0)
		return verr(errs, "string_too_short", k, "String should have at least 1 character", x);
	jv_free(x);
	return errs;
}

static jv need_list(jv errs, jv body, const char *k)
{
	jv x = jv_object_get(jv_copy(body), jv_string(k));
	int n;

	if (!jv_is_valid(x)) {
		jv_free(x);
		return verr(errs, "missing", k, "Field required", jv_copy(body));
	}
	if (jv_get_kind(x) != JV_KIND_ARRAY)
		return verr(errs, "list_type", k, "Input should be a valid list", x);
	n = jv_array_length(jv_copy(x));
	if (n == 0)
		return verr(errs, "too_short", k, "List should have at least 1 item after validation, not 0", x);
	for (int i = 0; i < n; i++) {
		jv it = jv_array_get(jv_copy(x), i);

		if (jv_get_kind(it) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(it)) == 0) {
			jv_free(x);
			return verr(errs, "string_type", k, "Input should be a valid non-empty string", it);
		}
		jv_free(it);
	}
	jv_free(x);
	return errs;
}

static jv need_number(jv errs, jv body, const char *k, int positive)
{
	jv x = jv_object_get(jv_copy(body), jv_string(k));

	if (!jv_is_valid(x) || jv_get_kind(x) == JV_KIND_NULL) {
		jv_free(x);
		return errs;
	}
	if (jv_get_kind(x) != JV_KIND_NUMBER)
		return verr(errs, "float_type", k, "Input should be a valid number", x);
	if (positive && !(jv_number_value(x) > 0))
		return verr(errs, "greater_than", k, "Input should be greater than 0", x);
	if (!positive && (jv_number_value(x) < 0 || jv_number_value(x) >= 1))
		return verr(errs, "less_than", k, "Input should be from 0 to less than 1", x);
	jv_free(x);
	return errs;
}

/* Dates are YYYY-MM-DD or an ISO date-time starting so; returns the day. */
static jv need_date(jv errs, jv body, const char *k, int required, int64_t *day)
{
	char *s = json_string(body, k), d[11];

	*day = 0;
	errs = need_string(errs, body, k, required);
	if (!s)
		return errs;
	if (strlen(s) >= 10) {
		memcpy(d, s, 10);
		d[10] = 0;
	}
	if (strlen(s) < 10 || clock_parse_day(d, day) < 0 || (s[10] && s[10] != 'T' && s[10] != ' '))
		errs = verr(errs, "date_from_datetime_parsing", k,
			    "Input should be a valid date or datetime, invalid date format",
			    jv_string(s));
	free(s);
	return errs;
}

/* ktrdr/api/main.py validation_exception_handler: not FastAPI's
 * {"detail": [...]} but {"success": false, "error": {"code":
 * "VALIDATION_ERROR", "message", "details": [{field, message, type}]}}. */
static int reject(struct sim_reply *rp, jv errs)
{
	jv details, env;
	int n = jv_array_length(jv_copy(errs));

	if (n == 0) {
		jv_free(errs);
		return 0;
	}
	details = jv_array();
	for (int i = 0; i < n; i++) {
		jv it = jv_array_get(jv_copy(errs), i), loc = json_get(jv_copy(it), "loc"), d = jv_object();
		char field[256] = "";
		size_t used = 0;

		for (int j = 0; j < jv_array_length(jv_copy(loc)) && used < sizeof field - 1; j++) {
			jv x = jv_array_get(jv_copy(loc), j);
			jv t = jv_get_kind(x) == JV_KIND_STRING ? x : jv_dump_string(x, 0);
			int w = snprintf(field + used, sizeof field - used, "%s%s", j ? " -> " : "",
					 jv_string_value(t));

			used = w < 0 || (size_t)w >= sizeof field - used ? sizeof field - 1 : used + (size_t)w;
			jv_free(t);
		}
		d = json_set(d, "field", jv_string(field));
		d = json_set(d, "message", json_get(jv_copy(it), "msg"));
		d = json_set(d, "type", json_get(jv_copy(it), "type"));
		details = jv_array_append(details, d);
		jv_free(loc);
		jv_free(it);
	}
	jv_free(errs);
	env = json_set(jv_object(), "code", jv_string("VALIDATION_ERROR"));
	env = json_set(env, "message", jv_string("Request validation failed"));
	env = json_set(env, "details", details);
	sim_reply_json(rp, 422, json_set(json_set(jv_object(), "success", jv_false()), "error", env));
	return 1;
}

/* HTTPException(400, detail=ConfigurationError.to_dict()): the five keys,
 * nested under "detail" (ktrdr/errors/exceptions.py, endpoints/training.py). */
static void config_error(struct sim_reply *rp, const char *code, const char *name,
			 const char *suggestion, jv details, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void config_error(struct sim_reply *rp, const char *code, const char *name,
			 const char *suggestion, jv details, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	jv d = jv_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	d = json_set(d, "message", jv_string(msg));
	d = json_set(d, "error_code", jv_string(code));
	d = json_set(d, "context", json_set(jv_object(), "strategy_name", jv_string(name)));
	d = json_set(d, "details", details);
	d = json_set(d, "suggestion", jv_string(suggestion));
	sim_reply_json(rp, 400, json_set(jv_object(), "detail", d));
}

/* The list under training_data.{symbols,timeframes}: `list`, else the
 * singular key (context.py _extract_config_list). */
static jv strategy_list(jv cfg, const char *section, const char *one)
{
	char path[96];
	jv l;
	char *x;

	snprintf(path, sizeof path, "training_data.%s.list", section);
	l = json_get(jv_copy(cfg), path);
	if (jv_get_kind(l) == JV_KIND_ARRAY && jv_array_length(jv_copy(l)) > 0)
		return l;
	jv_free(l);
	snprintf(path, sizeof path, "training_data.%s.%s", section, one);
	x = json_string(cfg, path);
	l = x ? jv_array_append(jv_array(), jv_string(x)) : jv_array();
	free(x);
	return l;
}

/* l[0] when it is a string (borrows l), malloc'd */
static char *first_string(jv l)
{
	jv x = jv_array_get(jv_copy(l), 0);
	char *r = jv_get_kind(x) == JV_KIND_STRING ? strdup(jv_string_value(x)) : NULL;

	jv_free(x);
	return r;
}

/* "Strategy file not found: X.yaml (searched: a.yaml, b.yaml)": the YAML
 * files the search found (context.py _resolve_strategy_path). */
static void strategy_not_found(struct sim *s, const char *name, struct sim_reply *rp)
{
	char list[1024] = "";
	size_t used = 0;
	DIR *d = opendir(s->cfg.strategies);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)) && n < 20) {
		size_t l = strlen(de->d_name);
		int w;

		if (l < 6 || strcmp(de->d_name + l - 5, ".yaml"))
			continue;
		w = snprintf(list + used, sizeof list - used, "%s%s/%s", n++ ? ", " : "",
			     s->cfg.strategies, de->d_name);
		used = w < 0 || (size_t)w >= sizeof list - used ? sizeof list - 1 : used + (size_t)w;
	}
	if (d)
		closedir(d);
	sim_reply_detail(rp, 400, "Strategy file not found: %s.yaml (searched: %s)", name, list);
}

/* The body must be a JSON object; FastAPI's answers otherwise. */
static int body_object(const struct sim_req *rq, struct sim_reply *rp)
{
	jv errs = jv_array();

	if (jv_get_kind(rq->json) == JV_KIND_OBJECT) {
		jv_free(errs);
		return 1;
	}
	if (rq->len == 0)
		errs = verr(errs, "missing", NULL, "Field required", jv_null());
	else if (!jv_is_valid(rq->json)) {
		jv it = jv_object();

		it = json_set(it, "type", jv_string("json_invalid"));
		it = json_set(it, "loc", jv_parse("[\"body\",0]"));
		it = json_set(it, "msg", jv_string("JSON decode error"));
		it = json_set(it, "input", jv_object());
		it = json_set(it, "ctx", json_set(jv_object(), "error",
						  jv_string(rq->json_error ? rq->json_error : "Expecting value")));
		errs = jv_array_append(errs, it);
	} else {
		errs = verr(errs, "model_attributes_type", NULL,
			    "Input should be a valid dictionary or object to extract fields from",
			    jv_copy(rq->json));
	}
	reject(rp, errs);
	return 0;
}

/* ---- routes --------------------------------------------------------------- */

static int tf_minutes(const char *tf)
{
	static const struct { const char *name; int min; } t[] = {
		{ "1m", 1 }, { "5m", 5 }, { "15m", 15 }, { "30m", 30 }, { "1h", 60 },
		{ "4h", 240 }, { "1d", 1440 }, { "1w", 10080 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcmp(t[i].name, tf) == 0)
			return t[i].min;
	return 60;
}

/* POST /trainings/start (ktrdr/api/endpoints/training.py start_training,
 * services/training/context.py build_training_context): the strategy is
 * read from the directory, refused unless v3 and valid; symbols and
 * timeframes default to the strategy's. */
static void start_training(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	jv body = rq->json, errs = jv_array(), out = jv_object(), cfg = jv_null(), req, checks;
	int64_t d0, d1;
	struct sim_op *op;
	char *name, msg[512], rt[256];
	int rc;

	if (!body_object(rq, rp)) {
		jv_free(errs);
		jv_free(out);
		return;
	}
	if (json_kind_at(body, "symbols") != JV_KIND_INVALID && json_kind_at(body, "symbols") != JV_KIND_NULL)
		errs = need_list(errs, body, "symbols");
	if (json_kind_at(body, "timeframes") != JV_KIND_INVALID && json_kind_at(body, "timeframes") != JV_KIND_NULL)
		errs = need_list(errs, body, "timeframes");
	errs = need_string(errs, body, "strategy_name", 1);
	errs = need_date(errs, body, "start_date", 0, &d0);
	errs = need_date(errs, body, "end_date", 0, &d1);
	errs = need_string(errs, body, "parent_operation_id", 0);
	if (reject(rp, errs)) {
		jv_free(out);
		return;
	}
	name = json_string(body, "strategy_name");
	if (!sim_strategy_name_ok(name)) {
		sim_reply_detail(rp, 400, "Strategy name may only contain alphanumerics, dashes, or underscores");
		goto out;
	}
	rc = sim_strategy_load(s, name, &cfg, msg, sizeof msg);
	if (rc == -1) {
		strategy_not_found(s, name, rp);
		goto out;
	}
	if (rc) {
		sim_reply_detail(rp, 400, "%s", msg);
		goto out;
	}
	if (!sim_strategy_is_v3(cfg)) {
		config_error(rp, "STRATEGY-V3ParseFailed", name, "Write the strategy in the v3 format "
			     "(indicators as a mapping, nn_inputs), or run 'ktrdr strategy migrate'",
			     jv_object(), "V3 strategy structure invalid: Strategy '%s.yaml' is not v3 "
			     "format. Run 'ktrdr strategy migrate' to upgrade.", name);
		goto out;
	}
	checks = sim_strategy_check(cfg);
	if (jv_array_length(jv_copy(checks)) > 0) {
		char text[1800] = "";
		size_t used = 0;

		for (int i = 0; i < jv_array_length(jv_copy(checks)) && used < sizeof text - 1; i++) {
			jv m = jv_array_get(jv_copy(checks), i);
			int w = snprintf(text + used, sizeof text - used, "\n  - %s", jv_string_value(m));

			used = w < 0 || (size_t)w >= sizeof text - used ? sizeof text - 1 : used + (size_t)w;
			jv_free(m);
		}
		config_error(rp, "STRATEGY-V3ValidationFailed", name, "Fix the strategy's errors listed in "
			     "details and save it again", json_set(jv_object(), "errors", checks),
			     "V3 strategy validation failed: Strategy validation failed:%s", text);
		goto out;
	}
	jv_free(checks);
	req = jv_copy(body);
	if (json_kind_at(req, "symbols") != JV_KIND_ARRAY)
		req = json_set(req, "symbols", strategy_list(cfg, "symbols", "symbol"));
	if (json_kind_at(req, "timeframes") != JV_KIND_ARRAY)
		req = json_set(req, "timeframes", strategy_list(cfg, "timeframes", "timeframe"));
	if (jv_array_length(json_get(jv_copy(req), "symbols")) == 0 ||
	    jv_array_length(json_get(jv_copy(req), "timeframes")) == 0) {
		int nosym = jv_array_length(json_get(jv_copy(req), "symbols")) == 0;

		jv_free(req);
		config_error(rp, nosym ? "STRATEGY-NoSymbols" : "STRATEGY-NoTimeframes", name,
			     nosym ? "Add training_data.symbols section to the strategy YAML"
				   : "Add training_data.timeframes section to the strategy YAML",
			     jv_object(), "Strategy '%s' has no %s configured", name,
			     nosym ? "symbols" : "timeframes");
		goto out;
	}
	if (d0 && d1 && d1 <= d0) {
		jv_free(req);
		sim_reply_detail(rp, 400, "end_date must be after start_date");
		goto out;
	}
	if (make_room(s, sim_now(s)) < 0) {
		jv_free(req);
		sim_reply_detail(rp, 503, "Too many operations in progress (%d)", SIM_MAX_OPS);
		goto out;
	}
	{
		/* KTRDR trains the strategy's model.training.epochs, 100 when it
		 * says none (ktrdr/training/model_trainer.py: config.get("epochs",
		 * 100)) */
		int64_t ep = EPOCHS;

		if (!json_int(cfg, "model.training.epochs", &ep) || ep < 1 || ep > 10000)
			ep = EPOCHS;
		op = op_new(s, SIM_TRAINING, req, (int)ep);
	}
	if (!op) {
		sim_reply_detail(rp, 500, "out of memory");
		goto out;
	}
	/* the engines are built when training starts: a strategy whose
	 * indicator or membership function does not exist fails there */
	if (sim_strategy_runtime(cfg, rt, sizeof rt)) {
		snprintf(op->runtime_error, sizeof op->runtime_error, "%s", rt);
		op->fail_at = 0;
		op->checkpoint = 0;
	}
	{
		jv syms = json_get(jv_copy(op->request), "symbols"), joined = jv_string("");

		for (int i = 0; i < jv_array_length(jv_copy(syms)); i++)
			joined = jv_string_concat(i ? jv_string_concat(joined, jv_string(", ")) : joined,
						  jv_array_get(jv_copy(syms), i));
		out = json_set(out, "success", jv_true());
		out = json_set(out, "task_id", jv_string(op->id));
		out = json_set(out, "status", jv_string("training_started"));
		out = json_set(out, "message", jv_string_fmt("Neural network training started for %s using "
							     "%s strategy", jv_string_value(joined), name));
		jv_free(joined);
		out = json_set(out, "symbols", syms);
	}
	out = json_set(out, "timeframes", json_get(jv_copy(op->request), "timeframes"));
	out = json_set(out, "strategy_name", jv_string(name));
	out = json_set(out, "estimated_duration_minutes",
		       jv_number(fmax(0.01, round(op->duration / s->cfg.speed / 60 * 100) / 100)));
	sim_reply_json(rp, 200, out);
	out = jv_invalid();
out:
	jv_free(out);
	jv_free(cfg);
	free(name);
}

/* POST /backtests/start (ktrdr/api/endpoints/backtesting.py, models
 * BacktestStartRequest): symbol and timeframe default to the strategy's
 * first; dates required; commission 0.001, slippage 0.0005; model_path
 * passed through; the answer's key is operation_id, its mode
 * "distributed". */
static void start_backtest(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	jv body = rq->json, errs = jv_array(), out = jv_object(), cfg = jv_null(), req;
	int64_t d0, d1;
	struct sim_op *op;
	char *name = NULL, *sym = NULL, *tf = NULL, msg[512];
	double bars;

	if (!body_object(rq, rp)) {
		jv_free(errs);
		jv_free(out);
		return;
	}
	errs = need_string(errs, body, "strategy_name", 1);
	if (json_kind_at(body, "symbol") != JV_KIND_NULL)
		errs = need_string(errs, body, "symbol", 0);
	if (json_kind_at(body, "timeframe") != JV_KIND_NULL)
		errs = need_string(errs, body, "timeframe", 0);
	errs = need_date(errs, body, "start_date", 1, &d0);
	errs = need_date(errs, body, "end_date", 1, &d1);
	errs = need_number(errs, body, "initial_capital", 1);
	errs = need_number(errs, body, "commission", 0);
	errs = need_number(errs, body, "slippage", 0);
	if (json_kind_at(body, "model_path") != JV_KIND_NULL)
		errs = need_string(errs, body, "model_path", 0);
	errs = need_string(errs, body, "parent_operation_id", 0);
	if (reject(rp, errs)) {
		jv_free(out);
		return;
	}
	name = json_string(body, "strategy_name");
	sym = json_string(body, "symbol");
	tf = json_string(body, "timeframe");
	/* errors reading the strategy are swallowed; it only fills the gaps */
	if ((!sym || !tf) && sim_strategy_name_ok(name) &&
	    sim_strategy_load(s, name, &cfg, msg, sizeof msg) == 0) {
		jv l = jv_null();

		if (!sym && jv_array_length(jv_copy(l = strategy_list(cfg, "symbols", "symbol"))) > 0)
			sym = first_string(l);
		jv_free(l);
		l = jv_null();
		if (!tf && jv_array_length(jv_copy(l = strategy_list(cfg, "timeframes", "timeframe"))) > 0)
			tf = first_string(l);
		jv_free(l);
	}
	if (!sym || !tf) {
		sim_reply_detail(rp, 400, "Symbol and timeframe must be provided or defined in strategy config");
		goto out;
	}
	if (d1 <= d0) {
		sim_reply_detail(rp, 400, "end_date must be after start_date");
		goto out;
	}
	if (make_room(s, sim_now(s)) < 0) {
		sim_reply_detail(rp, 503, "Too many operations in progress (%d)", SIM_MAX_OPS);
		goto out;
	}
	req = json_set(json_set(jv_copy(body), "symbol", jv_string(sym)), "timeframe", jv_string(tf));
	/* Trading bars over the range: five days in seven. */
	bars = (double)(d1 - d0) / 60.0 / tf_minutes(tf) * 5.0 / 7.0;
	op = op_new(s, SIM_BACKTEST, req, (int)fmin(100000, fmax(100, round(bars))));
	if (!op) {
		sim_reply_detail(rp, 500, "out of memory");
		goto out;
	}
	out = json_set(out, "success", jv_true());
	out = json_set(out, "operation_id", jv_string(op->id));
	out = json_set(out, "status", jv_string("started"));
	out = json_set(out, "message", jv_string_fmt("Backtest started for %s %s", sym, tf));
	out = json_set(out, "symbol", jv_string(sym));
	out = json_set(out, "timeframe", jv_string(tf));
	out = json_set(out, "mode", jv_string("distributed"));
	sim_reply_json(rp, 200, out);
	out = jv_invalid();
out:
	jv_free(out);
	jv_free(cfg);
	free(name);
	free(sym);
	free(tf);
}

static int parse_int_arg(const char *v, long lo, long hi, long *out)
{
	char *end;
	long x;

	if (!v)
		return 0;
	x = strtol(v, &end, 10);
	if (!*v || *end || x < lo || x > hi)
		return -1;
	*out = x;
	return 1;
}

static jv query_err(const char *type, const char *field, const char *msg, const char *input)
{
	jv it = jv_object();

	it = json_set(it, "type", jv_string(type));
	it = json_set(it, "loc", jv_array_append(jv_array_append(jv_array(), jv_string("query")),
						 jv_string(field)));
	it = json_set(it, "msg", jv_string(msg));
	it = json_set(it, "input", jv_string(input));
	return jv_array_append(jv_array(), it);
}

static void list_ops(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	const char *status = sim_req_arg(rq, "status"), *type = sim_req_arg(rq, "operation_type");
	const char *active = sim_req_arg(rq, "active_only");
	long limit = 10, offset = 0;
	int only_active = active && (!strcmp(active, "true") || !strcmp(active, "1"));
	int total = 0, nactive = 0, st = -1;
	double now = sim_now(s);
	jv data = jv_array(), out = jv_object();

	if (parse_int_arg(sim_req_arg(rq, "limit"), 1, 1000, &limit) < 0 ||
	    parse_int_arg(sim_req_arg(rq, "offset"), 0, 1000000, &offset) < 0) {
		const char *bad = parse_int_arg(sim_req_arg(rq, "limit"), 1, 1000, &limit) < 0 ? "limit" : "offset";

		jv_free(data);
		jv_free(out);
		sim_reply_json(rp, 422, json_set(jv_object(), "detail",
			query_err("int_parsing", bad, strcmp(bad, "limit") == 0
				  ? "Input should be a whole number from 1 to 1000"
				  : "Input should be a whole number greater than or equal to 0",
				  sim_req_arg(rq, bad))));
		return;
	}
	if (status) {
		for (int i = 0; i < 5; i++)
			if (strcmp(status, status_names[i]) == 0)
				st = i;
		if (st < 0) {
			jv_free(data);
			jv_free(out);
			sim_reply_json(rp, 422, json_set(jv_object(), "detail",
				query_err("enum", "status", "Input should be 'pending', 'running', "
					  "'completed', 'failed' or 'cancelled'", status)));
			return;
		}
	}
	for (int i = s->nops - 1; i >= 0; i--) {
		struct sim_op *op = s->ops[i];
		const char *tname = op->type == SIM_TRAINING ? "training" : "backtesting";

		advance(op, now);
		if (!terminal(op))
			nactive++;
		if ((st >= 0 && (int)op->status != st) || (type && strcmp(type, tname)) ||
		    (only_active && terminal(op)))
			continue;
		if (total++ < offset || jv_array_length(jv_copy(data)) >= limit)
			continue;
		{
			jv full = op_json(s, op), it = jv_object();
			double end = terminal(op) ? op->t_done : now;

			it = json_set(it, "operation_id", jv_string(op->id));
			it = json_set(it, "operation_type", jv_string(tname));
			it = json_set(it, "status", jv_string(status_names[op->status]));
			it = json_set(it, "created_at", json_get(jv_copy(full), "created_at"));
			it = json_set(it, "progress_percentage", json_get(jv_copy(full), "progress.percentage"));
			it = json_set(it, "current_step", json_get(jv_copy(full), "progress.current_step"));
			it = json_set(it, "symbol", json_get(jv_copy(full), "metadata.symbol"));
			it = json_set(it, "duration_seconds", !op->started
				      ? jv_null()
				      : jv_number(round((end - op->t_started) / s->cfg.speed * 1000) / 1000));
			jv_free(full);
			data = jv_array_append(data, it);
		}
	}
	out = json_set(out, "success", jv_true());
	out = json_set(out, "data", data);
	out = json_set(out, "total_count", jv_number(total));
	out = json_set(out, "active_count", jv_number(nactive));
	sim_reply_json(rp, 200, out);
}

static void cancel(struct sim *s, struct sim_op *op, double now, const char *reason, jv *ids)
{
	op->status = SIM_CANCELLED;
	op->progress = progress_at(op, now);
	op->t_done = now;
	snprintf(op->reason, sizeof op->reason, "%s", reason);
	for (int i = 0; i < s->nops; i++) {
		struct sim_op *c = s->ops[i];

		advance(c, now);
		if (strcmp(c->parent, op->id) == 0 && !terminal(c)) {
			*ids = jv_array_append(*ids, jv_string(c->id));
			cancel(s, c, now, "Parent operation cancelled", ids);
		}
	}
}

static void delete_op(struct sim *s, const struct sim_req *rq, struct sim_op *op,
		      struct sim_reply *rp)
{
	double now = sim_now(s);
	char *reason = jv_get_kind(rq->json) == JV_KIND_OBJECT ? json_string(rq->json, "reason") : NULL;
	jv ids = jv_array(), d = jv_object();
	char t[32];

	advance(op, now);
	if (terminal(op)) {
		free(reason);
		jv_free(ids);
		jv_free(d);
		sim_reply_detail(rp, 400, "Cannot cancel operation %s: it is already %s", op->id,
				 status_names[op->status]);
		return;
	}
	cancel(s, op, now, reason ? reason : "Cancelled by user", &ids);
	free(reason);
	d = json_set(d, "success", jv_true());
	d = json_set(d, "operation_id", jv_string(op->id));
	d = json_set(d, "status", jv_string("cancelled"));
	d = json_set(d, "cancelled_at", jv_string(sim_iso(sim_wall_us(s, now), t)));
	d = json_set(d, "cancellation_reason", jv_string(op->reason));
	d = json_set(d, "task_cancelled", jv_true());
	d = json_set(d, "remote_cancelled", jv_false());
	d = json_set(d, "children_cancelled", ids);
	sim_reply_json(rp, 200, json_set(json_set(jv_object(), "success", jv_true()), "data", d));
}

/* The checkpoint an operation left (ktrdr/checkpoint/: a failure
 * checkpoint when the worker saved one, which a fault says here; a
 * training cancelled after its first epoch keeps a cancellation one). */
static const char *checkpoint_type(const struct sim_op *op)
{
	if (op->status == SIM_FAILED && op->checkpoint)
		return "failure";
	if (op->status == SIM_CANCELLED && op->type == SIM_TRAINING &&
	    floor(op->progress * op->steps + 1e-9) >= 1)
		return "cancellation";
	return NULL;
}

/* GET /checkpoints/{operation_id} (ktrdr/api/endpoints/checkpoints.py
 * get_checkpoint; state as checkpoint/schemas.py writes it). */
static void get_checkpoint(struct sim *s, const char *id, struct sim_reply *rp)
{
	struct sim_op *op = find(s, id);
	const char *type;
	jv d = jv_object(), st = jv_object();
	char t[32];
	int step;

	if (op)
		advance(op, sim_now(s));
	if (!op || !(type = checkpoint_type(op))) {
		jv_free(d);
		jv_free(st);
		sim_reply_detail(rp, 404, "Checkpoint not found: %s", id);
		return;
	}
	step = (int)floor(op->progress * op->steps + 1e-9);
	if (op->type == SIM_TRAINING) {
		/* checkpoint/schemas.py TrainingCheckpointState.to_dict */
		jv h = jv_object(), tl = jv_array(), ta = jv_array(), vl = jv_array(), va = jv_array();

		for (int i = 0; i < step && i < op->steps; i++) {
			tl = jv_array_append(tl, jv_number(r4(1.05 - 0.4 * i / op->steps)));
			ta = jv_array_append(ta, jv_number(r4(0.34 + 0.25 * i / op->steps)));
			vl = jv_array_append(vl, jv_number(r4(1.09 - 0.38 * i / op->steps)));
			va = jv_array_append(va, jv_number(r4(0.32 + 0.24 * i / op->steps)));
		}
		h = json_set(h, "train_loss", tl);
		h = json_set(h, "train_accuracy", ta);
		h = json_set(h, "val_loss", vl);
		h = json_set(h, "val_accuracy", va);
		st = json_set(st, "epoch", jv_number(step > 0 ? step - 1 : 0));
		st = json_set(st, "train_loss", jv_number(r4(1.05 - 0.4 * step / op->steps)));
		st = json_set(st, "val_loss", jv_number(r4(1.09 - 0.38 * step / op->steps)));
		st = json_set(st, "train_accuracy", jv_number(r4(0.34 + 0.25 * step / op->steps)));
		st = json_set(st, "val_accuracy", jv_number(r4(0.32 + 0.24 * step / op->steps)));
		st = json_set(st, "learning_rate", jv_number(0.001));
		st = json_set(st, "best_val_loss", jv_number(r4(1.09 - 0.38 * step / op->steps)));
		st = json_set(st, "training_history", h);
	} else {
		st = json_set(st, "operation_type", jv_string("backtesting"));
		st = json_set(st, "bar_index", jv_number(step));
	}
	{
		jv orq = jv_copy(op->request);
		char *name = json_string(op->request, "strategy_name");

		orq = json_set(orq, "strategy_path", jv_string_fmt("strategies/%s.yaml", name ? name : ""));
		orq = json_set(orq, "start_date", jv_string(req_date(op, "start_date", "2020-01-01")));
		orq = json_set(orq, "end_date", jv_string(req_date(op, "end_date", "2024-12-31")));
		free(name);
		st = json_set(st, "original_request", orq);
	}
	d = json_set(d, "operation_id", jv_string(op->id));
	d = json_set(d, "checkpoint_type", jv_string(type));
	d = json_set(d, "created_at", jv_string(sim_iso(sim_wall_us(s, op->t_done), t)));
	d = json_set(d, "state", st);
	d = json_set(d, "artifacts_path", jv_string_fmt("/app/data/checkpoints/%s", op->id));
	sim_reply_json(rp, 200, json_set(json_set(jv_object(), "success", jv_true()), "data", d));
}

/* POST /operations/{id}/resume (ktrdr/api/endpoints/operations.py
 * resume_operation): 409 unless failed or cancelled; 404 (and failed)
 * without a checkpoint; else "resuming" with resumed_from. */
static void resume_op(struct sim *s, struct sim_op *op, struct sim_reply *rp)
{
	double now = sim_now(s);
	const char *type;
	int step;
	char t[32];
	jv d = jv_object(), from = jv_object();

	advance(op, now);
	if (op->status == SIM_RUNNING || op->status == SIM_COMPLETED || op->status == SIM_PENDING) {
		jv_free(d);
		jv_free(from);
		if (op->status == SIM_PENDING)
			sim_reply_detail(rp, 409, "Cannot resume operation %s from status pending", op->id);
		else
			sim_reply_detail(rp, 409, "Operation %s is already %s", op->id,
					 status_names[op->status]);
		return;
	}
	if (!(type = checkpoint_type(op))) {
		jv_free(d);
		jv_free(from);
		op->status = SIM_FAILED;
		sim_reply_detail(rp, 404, "No checkpoint available for operation %s", op->id);
		return;
	}
	step = (int)floor(op->progress * op->steps + 1e-9);
	from = json_set(from, "checkpoint_type", jv_string(type));
	from = json_set(from, "created_at", jv_string(sim_iso(sim_wall_us(s, op->t_done), t)));
	from = json_set(from, "epoch", op->type == SIM_TRAINING ? jv_number(step > 0 ? step - 1 : 0)
							      : jv_null());
	op->base = (double)step / op->steps;
	op->t_run = now;
	op->fail_at = NEVER;
	op->status = SIM_RUNNING;
	op->t_done = 0;
	op->error[0] = 0;
	op->runtime_error[0] = 0;
	op->resumes++;
	d = json_set(d, "operation_id", jv_string(op->id));
	d = json_set(d, "status", jv_string("resuming"));
	d = json_set(d, "resumed_from", from);
	sim_reply_json(rp, 200, json_set(json_set(jv_object(), "success", jv_true()), "data", d));
}

/* GET /agent/status (ktrdr/api/services/agent_service.py get_status): the
 * platform's own research agent; POST /_sim/agent makes it active. */
static void agent_status(struct sim *s, struct sim_reply *rp)
{
	jv v = jv_object(), w = jv_object(), busy = jv_object();
	int training = 0, backtests = 0;

	for (int i = 0; i < s->nops; i++) {
		advance(s->ops[i], sim_now(s));
		if (!terminal(s->ops[i]))
			s->ops[i]->type == SIM_TRAINING ? training++ : backtests++;
	}
	w = json_set(w, "training", json_set(json_set(jv_object(), "busy", jv_number(training > 0)),
					     "total", jv_number(1)));
	w = json_set(w, "backtesting", json_set(json_set(jv_object(), "busy", jv_number(backtests > 0)),
						"total", jv_number(1)));
	w = json_set(w, "agent_design", json_set(json_set(jv_object(), "busy", jv_number(0)), "total", jv_number(1)));
	w = json_set(w, "agent_assessment", json_set(json_set(jv_object(), "busy", jv_number(0)), "total", jv_number(1)));
	jv_free(busy);
	if (s->agent_active) {
		jv r = jv_object();
		char id[64];

		snprintf(id, sizeof id, "op_agent_research_20260101_000000_%.8s", s->agent_op);
		r = json_set(r, "operation_id", jv_string(id));
		r = json_set(r, "phase", jv_string(s->agent_phase));
		r = json_set(r, "strategy_name", jv_string("platform_agent_strategy"));
		r = json_set(r, "duration_seconds", jv_number(60));
		snprintf(id, sizeof id, "op_training_20260101_000000_%.8s", s->agent_op);
		r = json_set(r, "child_operation_id", jv_string(id));
		v = json_set(v, "status", jv_string("active"));
		v = json_set(v, "active_researches", jv_array_append(jv_array(), r));
	} else {
		v = json_set(v, "status", jv_string("idle"));
		v = json_set(v, "active_researches", jv_array());
		v = json_set(v, "last_cycle", jv_null());
	}
	v = json_set(v, "workers", w);
	v = json_set(v, "budget", json_set(json_set(jv_object(), "remaining", jv_number(20)),
					   "daily_limit", jv_number(20)));
	v = json_set(v, "capacity", json_set(json_set(jv_object(), "active", jv_number(s->agent_active)),
					     "limit", jv_number(3)));
	sim_reply_json(rp, 200, v);
}

static const char indicators_json[] =
	"[{\"id\":\"RSIIndicator\",\"name\":\"RSI\",\"description\":\"Relative Strength Index: "
	"momentum oscillator of the speed and size of price moves\",\"type\":\"momentum\","
	"\"parameters\":[{\"name\":\"period\",\"type\":\"int\",\"description\":\"Lookback period\","
	"\"default\":14,\"min_value\":2,\"max_value\":100,\"options\":null},{\"name\":\"source\","
	"\"type\":\"str\",\"description\":\"Price column\",\"default\":\"close\",\"min_value\":null,"
	"\"max_value\":null,\"options\":[\"open\",\"high\",\"low\",\"close\"]}]},"
	"{\"id\":\"MACDIndicator\",\"name\":\"MACD\",\"description\":\"Moving Average Convergence "
	"Divergence\",\"type\":\"momentum\",\"parameters\":[{\"name\":\"fast_period\",\"type\":\"int\","
	"\"description\":\"Fast EMA period\",\"default\":12,\"min_value\":2,\"max_value\":100,"
	"\"options\":null},{\"name\":\"slow_period\",\"type\":\"int\",\"description\":\"Slow EMA period\","
	"\"default\":26,\"min_value\":3,\"max_value\":200,\"options\":null},{\"name\":\"signal_period\","
	"\"type\":\"int\",\"description\":\"Signal line period\",\"default\":9,\"min_value\":2,"
	"\"max_value\":50,\"options\":null}]},"
	"{\"id\":\"SimpleMovingAverage\",\"name\":\"SMA\",\"description\":\"Simple Moving Average\","
	"\"type\":\"trend\",\"parameters\":[{\"name\":\"period\",\"type\":\"int\",\"description\":"
	"\"Lookback period\",\"default\":20,\"min_value\":2,\"max_value\":500,\"options\":null}]},"
	"{\"id\":\"ExponentialMovingAverage\",\"name\":\"EMA\",\"description\":\"Exponential Moving "
	"Average\",\"type\":\"trend\",\"parameters\":[{\"name\":\"period\",\"type\":\"int\","
	"\"description\":\"Lookback period\",\"default\":20,\"min_value\":2,\"max_value\":500,"
	"\"options\":null}]},"
	"{\"id\":\"BollingerBandsIndicator\",\"name\":\"BollingerBands\",\"description\":\"Bollinger "
	"Bands: moving average with standard-deviation bands\",\"type\":\"volatility\",\"parameters\":"
	"[{\"name\":\"period\",\"type\":\"int\",\"description\":\"Lookback period\",\"default\":20,"
	"\"min_value\":2,\"max_value\":200,\"options\":null},{\"name\":\"multiplier\",\"type\":\"float\","
	"\"description\":\"Standard deviations\",\"default\":2.0,\"min_value\":0.5,\"max_value\":5.0,"
	"\"options\":null}]},"
	"{\"id\":\"ATRIndicator\",\"name\":\"ATR\",\"description\":\"Average True Range\",\"type\":"
	"\"volatility\",\"parameters\":[{\"name\":\"period\",\"type\":\"int\",\"description\":"
	"\"Lookback period\",\"default\":14,\"min_value\":2,\"max_value\":100,\"options\":null}]},"
	"{\"id\":\"StochasticIndicator\",\"name\":\"Stochastic\",\"description\":\"Stochastic "
	"Oscillator (%K and %D)\",\"type\":\"momentum\",\"parameters\":[{\"name\":\"k_period\",\"type\":"
	"\"int\",\"description\":\"%K period\",\"default\":14,\"min_value\":2,\"max_value\":100,"
	"\"options\":null},{\"name\":\"d_period\",\"type\":\"int\",\"description\":\"%D smoothing\","
	"\"default\":3,\"min_value\":1,\"max_value\":20,\"options\":null}]},"
	"{\"id\":\"ADXIndicator\",\"name\":\"ADX\",\"description\":\"Average Directional Index: "
	"trend strength\",\"type\":\"trend\",\"parameters\":[{\"name\":\"period\",\"type\":\"int\","
	"\"description\":\"Lookback period\",\"default\":14,\"min_value\":2,\"max_value\":100,"
	"\"options\":null}]},"
	"{\"id\":\"OBVIndicator\",\"name\":\"OBV\",\"description\":\"On-Balance Volume\",\"type\":"
	"\"volume\",\"parameters\":[]},"
	"{\"id\":\"CCIIndicator\",\"name\":\"CCI\",\"description\":\"Commodity Channel Index\","
	"\"type\":\"momentum\",\"parameters\":[{\"name\":\"period\",\"type\":\"int\",\"description\":"
	"\"Lookback period\",\"default\":20,\"min_value\":2,\"max_value\":200,\"options\":null}]},"
	"{\"id\":\"WilliamsRIndicator\",\"name\":\"WilliamsR\",\"description\":\"Williams %R\","
	"\"type\":\"momentum\",\"parameters\":[{\"name\":\"period\",\"type\":\"int\",\"description\":"
	"\"Lookback period\",\"default\":14,\"min_value\":2,\"max_value\":100,\"options\":null}]},"
	"{\"id\":\"MFIIndicator\",\"name\":\"MFI\",\"description\":\"Money Flow Index\",\"type\":"
	"\"volume\",\"parameters\":[{\"name\":\"period\",\"type\":\"int\",\"description\":\"Lookback "
	"period\",\"default\":14,\"min_value\":2,\"max_value\":100,\"options\":null}]}]";

static const char symbols_json[] =
	"[{\"symbol\":\"AAPL\",\"name\":\"Apple Inc.\",\"type\":\"stock\",\"exchange\":\"NASDAQ\","
	"\"currency\":\"USD\",\"available_timeframes\":[\"5m\",\"15m\",\"1h\",\"4h\",\"1d\"],"
	"\"trading_hours\":{\"timezone\":\"America/New_York\",\"regular_start\":\"09:30\","
	"\"regular_end\":\"16:00\"}},"
	"{\"symbol\":\"MSFT\",\"name\":\"Microsoft Corporation\",\"type\":\"stock\",\"exchange\":"
	"\"NASDAQ\",\"currency\":\"USD\",\"available_timeframes\":[\"5m\",\"15m\",\"1h\",\"4h\",\"1d\"],"
	"\"trading_hours\":{\"timezone\":\"America/New_York\",\"regular_start\":\"09:30\","
	"\"regular_end\":\"16:00\"}},"
	"{\"symbol\":\"SPY\",\"name\":\"SPDR S&P 500 ETF Trust\",\"type\":\"etf\",\"exchange\":"
	"\"ARCA\",\"currency\":\"USD\",\"available_timeframes\":[\"15m\",\"1h\",\"1d\"],"
	"\"trading_hours\":{\"timezone\":\"America/New_York\",\"regular_start\":\"09:30\","
	"\"regular_end\":\"16:00\"}},"
	"{\"symbol\":\"EURUSD\",\"name\":\"Euro / US Dollar\",\"type\":\"forex\",\"exchange\":"
	"\"IDEALPRO\",\"currency\":\"USD\",\"available_timeframes\":[\"5m\",\"15m\",\"1h\",\"4h\",\"1d\"]},"
	"{\"symbol\":\"GBPUSD\",\"name\":\"British Pound / US Dollar\",\"type\":\"forex\",\"exchange\":"
	"\"IDEALPRO\",\"currency\":\"USD\",\"available_timeframes\":[\"1h\",\"4h\",\"1d\"]},"
	"{\"symbol\":\"BTCUSD\",\"name\":\"Bitcoin / US Dollar\",\"type\":\"crypto\",\"exchange\":"
	"\"PAXOS\",\"currency\":\"USD\",\"available_timeframes\":[\"1h\",\"4h\",\"1d\"]}]";

static void listing(struct sim_reply *rp, const char *text, int with_error)
{
	jv v = json_set(jv_object(), "success", jv_true());

	v = json_set(v, "data", jv_parse(text));
	if (with_error)
		v = json_set(v, "error", jv_null());
	sim_reply_json(rp, 200, v);
}

void sim_backend_handle(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	const char *p = rq->path + 7;  /* after "/api/v1" */
	const char *m = rq->method;
	int get = strcmp(m, "GET") == 0, post = strcmp(m, "POST") == 0;

	if (strcmp(p, "/trainings/start") == 0) {
		if (post)
			start_training(s, rq, rp);
		else
			sim_reply_detail(rp, 405, "Method Not Allowed");
	} else if (strcmp(p, "/backtests/start") == 0) {
		if (post)
			start_backtest(s, rq, rp);
		else
			sim_reply_detail(rp, 405, "Method Not Allowed");
	} else if (strcmp(p, "/operations") == 0 || strcmp(p, "/operations/") == 0) {
		if (get)
			list_ops(s, rq, rp);
		else
			sim_reply_detail(rp, 405, "Method Not Allowed");
	} else if (strncmp(p, "/operations/", 12) == 0) {
		char id[80];
		const char *rest = p + 12, *slash = strchr(rest, '/');
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
		struct sim_op *op;

		snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id - 1 ? n : sizeof id - 1), rest);
		op = n < sizeof id ? find(s, id) : NULL;
		if (slash && strcmp(slash, "/resume") && strcmp(slash, "/children")) {
			sim_reply_detail(rp, 404, "Not Found");
		} else if (slash && strcmp(slash, "/resume") == 0 && !post) {
			sim_reply_detail(rp, 405, "Method Not Allowed");
		} else if (slash && strcmp(slash, "/children") == 0 && !get) {
			sim_reply_detail(rp, 405, "Method Not Allowed");
		} else if (!slash && !get && strcmp(m, "DELETE")) {
			sim_reply_detail(rp, 405, "Method Not Allowed");
		} else if (!op) {
			sim_reply_detail(rp, 404, "Operation not found: %s", id);
		} else if (slash && strcmp(slash, "/resume") == 0) {
			resume_op(s, op, rp);
		} else if (slash) {
			jv a = jv_array();
			double now = sim_now(s);

			for (int i = 0; i < s->nops; i++)
				if (strcmp(s->ops[i]->parent, op->id) == 0) {
					advance(s->ops[i], now);
					a = jv_array_append(a, op_json(s, s->ops[i]));
				}
			sim_reply_json(rp, 200, json_set(json_set(jv_object(), "success", jv_true()), "data", a));
		} else if (get) {
			advance(op, sim_now(s));
			sim_reply_json(rp, 200, json_set(json_set(jv_object(), "success", jv_true()),
							 "data", op_json(s, op)));
		} else {
			delete_op(s, rq, op, rp);
		}
	} else if (strncmp(p, "/checkpoints/", 13) == 0 && !strchr(p + 13, '/') && p[13]) {
		if (get)
			get_checkpoint(s, p + 13, rp);
		else
			sim_reply_detail(rp, 405, "Method Not Allowed");
	} else if (strncmp(p, "/strategies/validate/", 21) == 0 && !strchr(p + 21, '/') && p[21]) {
		if (post)
			sim_strategy_validate(s, p + 21, rp);
		else
			sim_reply_detail(rp, 405, "Method Not Allowed");
	} else if (strcmp(p, "/agent/status") == 0) {
		if (get)
			agent_status(s, rp);
		else
			sim_reply_detail(rp, 405, "Method Not Allowed");
	} else if (strcmp(p, "/indicators/") == 0 || strcmp(p, "/symbols") == 0 ||
		   strcmp(p, "/health") == 0) {
		if (!get)
			sim_reply_detail(rp, 405, "Method Not Allowed");
		else if (p[1] == 'i')
			listing(rp, indicators_json, 0);
		else if (p[1] == 's')
			listing(rp, symbols_json, 1);
		else
			/* ktrdr/api/endpoints/__init__.py health_check */
			sim_reply_json(rp, 200, json_set(json_set(json_set(jv_object(), "status", jv_string("ok")),
							  "version", jv_string("agent-sim")),
							  "orphan_detector", jv_null()));
	} else if (strcmp(p, "/indicators") == 0 || strcmp(p, "/symbols/") == 0) {
		/* FastAPI redirects to the route's canonical slash. */
		sim_reply_header(rp, "location", "/api/v1%s", p[1] == 'i' ? "/indicators/" : "/symbols");
		rp->status = 307;
		rp->ctype = NULL;
	} else {
		sim_reply_detail(rp, 404, "Not Found");
	}
}

jv sim_backend_ops(struct sim *s)
{
	jv a = jv_array();
	double now = sim_now(s);

	for (int i = 0; i < s->nops; i++) {
		advance(s->ops[i], now);
		a = jv_array_append(a, op_json(s, s->ops[i]));
	}
	return a;
}

void sim_backend_free(struct sim *s)
{
	for (int i = 0; i < s->nops; i++)
		op_free(s->ops[i]);
	s->nops = 0;
}
