// The operator console's page script (served by services/api/ops-console.ts under a strict CSP).
// The token lives in this page's memory only and travels in the Authorization header.
"use strict";

(function () {
	const API = document.body.dataset.api || "/api";
	const $ = id => document.getElementById(id);
	const TOP_ACTIONS = 8;
	let token = null;
	let abort = null;
	const charts = {};

	function setStatus(text, cls) {
		const el = $("status");
		el.textContent = text;
		el.className = cls || "";
	}

	function cell(tr, text, cls) {
		const td = document.createElement("td");
		td.textContent = text;
		if (cls) td.className = cls;
		tr.appendChild(td);
		return td;
	}

	function rows(tableId, items, fill) {
		const body = $(tableId).querySelector("tbody");
		body.replaceChildren();
		for (const item of items) {
			const tr = document.createElement("tr");
			fill(tr, item);
			body.appendChild(tr);
		}
	}

	const mb = bytes => (bytes == null ? "" : `${(bytes / 1048576).toFixed(0)} MB`);
	const num = (x, digits) => (x == null ? "" : Number(x).toFixed(digits));
	const duration = s => {
		if (s == null) return "";
		if (s < 120) return `${Math.round(s)} s`;
		if (s < 7200) return `${Math.round(s / 60)} min`;
		return `${(s / 3600).toFixed(1)} h`;
	};
	const last = xs => {
		for (let i = xs.length - 1; i >= 0; i--) if (xs[i] != null) return xs[i];
		return null;
	};

	async function login(email, password) {
		const res = await fetch(`${API}/users/login`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ email, password })
		});
		const body = await res.json().catch(() => ({}));
		if (!res.ok) throw new Error(body.message || `Sign-in failed (${res.status})`);
		return body.token;
	}

	/** Server-Sent Events over fetch, so the token goes in a header (EventSource cannot). */
	async function stream() {
		abort = new AbortController();
		const res = await fetch(`${API}/ops/stream`, {
			headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
			signal: abort.signal
		});
		if (!res.ok) {
			const body = await res.json().catch(() => ({}));
			const err = new Error(body.message || `HTTP ${res.status}`);
			err.status = res.status;
			throw err;
		}
		setStatus("live", "ok");
		const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
		let buffer = "";
		for (;;) {
			const { value, done } = await reader.read();
			if (done) return;
			buffer += value;
			let end;
			while ((end = buffer.indexOf("\n\n")) >= 0) {
				const block = buffer.slice(0, end);
				buffer = buffer.slice(end + 2);
				let event = "message";
				let data = "";
				for (const line of block.split("\n")) {
					if (line.startsWith("event: ")) event = line.slice(7);
					else if (line.startsWith("data: ")) data += line.slice(6);
				}
				if (event === "snapshot") render(JSON.parse(data));
				else if (event === "unavailable") setStatus("ops service unavailable", "warn");
			}
		}
	}

	async function watch() {
		for (;;) {
			try {
				await stream();
				setStatus("reconnecting", "warn");
			} catch (err) {
				if (err.name === "AbortError") return;
				if (err.status === 401 || err.status === 403) {
					signOut(
						err.status === 403 ? `Refused: ${err.message}` : "Please sign in again"
					);
					return;
				}
				setStatus(`reconnecting (${err.message})`, "warn");
			}
			await new Promise(r => setTimeout(r, 1000));
		}
	}

	function signOut(message) {
		token = null;
		if (abort) abort.abort();
		$("console").hidden = true;
		$("login").hidden = false;
		const el = $("login-error");
		el.textContent = message;
		el.hidden = !message;
		setStatus(message ? "refused" : "signed out", message ? "bad" : "");
	}

	function render(s) {
		rows("nodes", s.nodes, (tr, n) => {
			tr.dataset.node = n.id;
			cell(tr, n.id);
			cell(tr, n.hostname);
			cell(tr, n.up ? "up" : "down", n.up ? "ok" : "bad");
			cell(tr, n.services.join(", "));
			cell(tr, n.cpu == null ? "" : `${n.cpu}%`);
			cell(tr, mb(n.rssBytes));
			cell(tr, duration(n.uptimeSec));
		});

		const services = $("services");
		services.replaceChildren();
		for (const svc of s.services) {
			const li = document.createElement("li");
			li.dataset.service = svc.name;
			li.dataset.instances = String(svc.instances);
			li.className = svc.instances > 0 ? "ok" : "bad";
			li.textContent = `${svc.name} × ${svc.instances}`;
			services.appendChild(li);
		}

		renderTraffic(s.traffic);
		rows("breakers", s.breakers, (tr, b) => {
			cell(tr, b.caller);
			cell(tr, b.action);
			cell(tr, b.nodeID);
			cell(tr, b.state, b.state === "open" ? "bad" : "ok");
		});

		const business = $("business");
		business.replaceChildren();
		const fact = (term, value) => {
			const dt = document.createElement("dt");
			dt.textContent = term;
			const dd = document.createElement("dd");
			dd.textContent = String(value);
			business.append(dt, dd);
		};
		const orders = s.business.orders;
		if (orders) {
			for (const [status, n] of Object.entries(orders.byStatus)) fact(`orders ${status}`, n);
			fact("sagas in flight", orders.sagasInFlight);
			fact("compensations owed", orders.compensationsOwed);
		}
		const payments = s.business.payments;
		if (payments) {
			fact("payments pending", payments.byStatus.pending);
			fact("payments with an operation under way", payments.pendingOperations);
		}

		rows("events", s.events, (tr, e) => {
			cell(tr, e.service);
			cell(tr, e.event);
			cell(tr, e.pending == null ? "?" : e.pending, e.pending > 0 ? "warn" : "");
			cell(tr, e.ackPending == null ? "?" : e.ackPending);
		});
		const dead = $("dead-letters");
		dead.replaceChildren();
		for (const [service, n] of Object.entries(s.deadLetters)) {
			const li = document.createElement("li");
			li.textContent = `${service}: ${n}`;
			li.className = n > 0 ? "bad" : "";
			dead.appendChild(li);
		}

		const faults = $("faults");
		faults.replaceChildren();
		for (const f of s.faults) {
			const li = document.createElement("li");
			li.dataset.kind = f.kind;
			const time = document.createElement("time");
			time.dateTime = f.at;
			time.textContent = new Date(f.at).toLocaleTimeString();
			li.append(time, ` ${f.kind}: ${f.text}`);
			faults.appendChild(li);
		}
	}

	function renderTraffic(traffic) {
		const names = Object.keys(traffic.actions);
		// The busiest actions of the last samples get a line each: ranked by their calls, whole
		// numbers, so actions called equally often (an order's steps) tie and keep their names' order.
		const recent = name => {
			const calls = traffic.actions[name].calls.slice(-30);
			return calls.reduce((a, x) => a + (x || 0), 0);
		};
		const top = names
			.filter(n => recent(n) > 0)
			.sort((a, b) => recent(b) - recent(a))
			.slice(0, TOP_ACTIONS)
			.sort();
		const chartsEl = $("traffic-panel");
		chartsEl.dataset.actions = top.join(" ");
		chart("rps", top, traffic, "rps");
		chart("p99", top, traffic, "p99");

		rows("actions", names, (tr, name) => {
			const a = traffic.actions[name];
			tr.dataset.action = name;
			cell(tr, name);
			cell(tr, num(last(a.rps), 1));
			cell(tr, num(last(a.errorsPerSec), 1), last(a.errorsPerSec) > 0 ? "bad" : "");
			cell(tr, num(last(a.p50), 1));
			cell(tr, num(last(a.p99), 1));
		});
	}

	const COLORS = [
		"#1f77b4",
		"#d62728",
		"#2ca02c",
		"#ff7f0e",
		"#9467bd",
		"#8c564b",
		"#e377c2",
		"#17becf"
	];

	function chart(id, actions, traffic, field) {
		const key = actions.join(",");
		const data = [traffic.times, ...actions.map(a => traffic.actions[a][field])];
		const el = $(`chart-${id}`);
		let c = charts[id];
		if (!c || c.key !== key) {
			if (c) c.plot.destroy();
			const width = Math.max(300, Math.min(900, el.clientWidth || 600));
			const plot = new uPlot(
				{
					width,
					height: 200,
					series: [
						{},
						...actions.map((a, i) => ({
							label: a,
							stroke: COLORS[i % COLORS.length],
							width: 1.5,
							spanGaps: true
						}))
					],
					axes: [{}, { size: 50 }],
					scales: { x: { time: true } }
				},
				data,
				el
			);
			charts[id] = c = { key, plot };
		} else c.plot.setData(data);
		el.dataset.points = String(traffic.times.length);
	}

	$("login").addEventListener("submit", async ev => {
		ev.preventDefault();
		$("login-error").hidden = true;
		try {
			token = await login($("email").value, $("password").value);
			$("password").value = "";
			$("login").hidden = true;
			$("console").hidden = false;
			setStatus("connecting");
			void watch();
		} catch (err) {
			signOut(err.message);
		}
	});
})();
