// tbviz's TensorBoard tab: which runs overfit, when, and how badly?
//
// Served by tbviz/plugin.py and imported by TensorBoard's plugin iframe, which
// calls render(). No external assets (the iframe's CSP forbids them), and every
// string that comes from the logs (run names, notes, reasons) is inserted with
// textContent or as an SVG text node: never as HTML.

const ROUTE = (name) => new URL(`./${name}`, import.meta.url);
const REFRESH_MS = 30000; // TensorBoard's own reload interval
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
// The statuses, worst first, with their colours and meanings: served by the
// plugin with the runs (tbviz/core/verdicts.py's STATUS_TABLE), never copied here.
const severity = (status) => {
  const i = state.statuses.findIndex((s) => s.status === status);
  return i < 0 ? state.statuses.length : i;
};
const COLUMNS = [
  ["run", "run", (r) => r.run],
  // Worst status first; within one, the run furthest from its best first.
  ["status", "status", (r) => [severity(r.status), -(r.generalization_loss ?? 0), r.run]],
  ["monitor", "metric", (r) => r.monitor],
  ["best_value", "best value", (r) => r.best_value],
  ["best_epoch", "best epoch", (r) => r.best_epoch],
  ["onset_epoch", "onset", (r) => r.onset_epoch],
  ["gap", "gap (val − train)", (r) => r.gap],
  ["generalization_loss", "latest vs best", (r) => r.generalization_loss],
  ["epochs", "epochs", (r) => r.epochs],
  ["hparams", "hparams", (r) => hparamsText(r)],
];
// Runs ticked in the overlay at first: the worst few and the best few.
const OVERLAY_WORST = 3, OVERLAY_BEST = 3;

const state = {
  runs: [], statuses: [], knobs: [], metric: "val_loss", metrics: [],
  filter: "", sortKey: "status", sortAscending: true,
  groupOver: "", expanded: new Set(),
  selected: null, overlay: new Set(), error: "", varying: [],
};
let root = null;

export async function render() {
  root = el("div", { id: "tbviz-root" });
  document.body.appendChild(styles());
  document.body.appendChild(root);
  await refresh();
  setInterval(refresh, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
}

async function refresh() {
  try {
    const url = ROUTE("runs");
    url.searchParams.set("metric", state.metric);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`runs: HTTP ${response.status}`);
    const answer = await response.json();
    state.runs = answer.runs;
    // Runs without a stored verdict are judged by state.metric; these are the choices.
    state.metrics = answer.metrics || [];
    state.statuses = answer.statuses || [];
    // The knobs runs can be grouped over (each row carries its group over each).
    state.knobs = answer.knobs || [];
    state.error = "";
    state.varying = answer.varying || [];
    if (!state.runs.some((r) => r.run === state.selected)) {
      // The most worrying run opens in the detail pane...
      const first = worstRuns()[0]
        || [...state.runs].sort((a, b) => severity(a.status) - severity(b.status))[0];
      state.selected = first ? first.run : null;
    }
    if (state.overlay.size === 0) {
      // ...and the overlay starts with it, the other worst runs and the best few,
      // so the detail pane's run and the onsets the legend promises are drawn.
      const chosen = [
        ...worstRuns().slice(0, OVERLAY_WORST), ...rankedRuns().slice(0, OVERLAY_BEST),
      ].map((r) => r.run);
      if (state.selected) chosen.unshift(state.selected);
      chosen.forEach((run) => state.overlay.add(run));
    }
  } catch (err) {
    state.error = `Could not load runs: ${err.message}`;
  }
  draw();
}

function draw() {
  root.replaceChildren(
    header(), filterBar(), table(), el("div", { class: "panes" }, [detailPane(), overlayPane()]),
  );
  loadDetail();
  loadOverlay();
}

function redrawTable() {
  // Filtering, sorting and selecting touch only the table: no refetching.
  document.getElementById("runs").replaceWith(table());
}

// -- pieces ------------------------------------------------------------------

function header() {
  const counts = {};
  for (const r of state.runs) counts[r.status] = (counts[r.status] || 0) + 1;
  const summary = Object.entries(counts)
    .sort(([a], [b]) => severity(a) - severity(b)).map(([s, n]) => `${n} ${s}`).join(", ");
  const stopping = state.error ? "" : stoppingSummary(state.runs);
  return el("div", { class: "header" }, [
    el("h2", {}, ["Which runs overfit, when, and how badly?"]),
    el("p", { class: "muted" }, [
      state.error || `${plural(state.runs.length, "run")}${summary ? ": " + summary : ""}.`,
    ]),
    ...(stopping ? [el("p", { class: "muted stopping" }, [stopping])] : []),
  ]);
}

function stoppingSummary(runs) {
  // What each stopper would have done to these runs, in hindsight: the two
  // `stopping:` lines `tbviz leaderboard` prints, from each row's what-ifs.
  const judged = runs.filter((r) => r.stopping && r.best_epoch !== null);
  const epochs = judged.reduce((sum, r) => sum + r.stopping.epochs, 0);
  const tally = (key) => {
    const stops = judged.map((r) => r.stopping[key]).filter((s) => s);
    const saved = stops.reduce((sum, s) => sum + s[0], 0);
    const soon = stops.filter((s) => s[1]).length;
    return { count: stops.length, text: `stopped ${stops.length} of ${plural(judged.length, "run")}, `
      + `saving ${saved} of ${epochs} epochs (${Math.round((100 * saved) / Math.max(epochs, 1))}%)`
      + (soon ? `, ${soon} too soon` : ""), soon };
  };
  const ours = tally("ours");
  const early = tally("early");
  if (!ours.count && !early.count) return "";
  const patience = new Set(judged.map((r) => r.stopping.patience));
  const keras = patience.size === 1 ? `EarlyStopping(patience=${[...patience][0]})` : "EarlyStopping";
  const soon = ours.soon || early.soon
    ? " (too soon: the epoch restored is over 1% worse than the run's best)" : "";
  return `In hindsight, OverfittingStopping would have ${ours.text}; `
    + `${keras} would have ${early.text}${soon}.`;
}

function filterBar() {
  const input = el("input", {
    type: "text", id: "run-filter", placeholder: "Filter runs (regex)", value: state.filter,
  });
  input.addEventListener("input", () => {
    state.filter = input.value;
    // The filter holds for the whole tab: a run it hides leaves the detail pane
    // (the first row shown takes its place) and the overlay.
    const shown = sortedRows();
    if (!shown.some((r) => r.run === state.selected)) {
      state.selected = shown.length ? shown[0].run : null;
    }
    redrawTable(); // the input itself stays, with its focus and caret
    loadDetail();
    loadOverlay();
  });
  const refreshButton = el("button", { type: "button" }, ["Refresh"]);
  refreshButton.addEventListener("click", refresh);
  // Group over a knob (seed): the table folds into one row per configuration
  // and the overlay draws each group's mean, as `tbviz compare --group-over` does.
  const knobs = state.knobs;
  const select = el("select", { id: "group-over", title: "group runs over a knob" }, [
    el("option", { value: "" }, ["no groups"]),
    ...knobs.map((name) => el("option", { value: name }, [`group over ${name}`])),
  ]);
  select.value = knobs.includes(state.groupOver) ? state.groupOver : "";
  select.addEventListener("change", () => {
    state.groupOver = select.value;
    state.expanded = new Set();
    redrawTable();
    loadOverlay();
  });
  // Judge the runs diagnosed from their scalars by another validation metric (as
  // `tbviz leaderboard --metric` does), when they have any other.
  const metrics = [...new Set([state.metric, ...state.metrics])];
  const judge = el("select", { id: "judge-by", title: "the metric runs without a stored "
    + "diagnosis are judged by" }, metrics.map((name) => el("option", { value: name },
    [`judge by ${name}`])));
  judge.value = state.metric;
  judge.addEventListener("change", () => {
    state.metric = judge.value;
    refresh();
  });
  return el("div", { class: "filter" }, [input, refreshButton,
    ...(metrics.length > 1 ? [judge] : []), ...(knobs.length ? [select] : [])]);
}

function groupsOf(rows) {
  // Each row comes with its group over every knob, placed by the plugin as
  // `tbviz ... --group-over` places runs (tbviz/core/results.py); best mean first.
  const knob = state.groupOver;
  const groups = new Map();
  for (const r of rows) {
    const [key, label] = (r.groups || {})[knob] || [r.run, r.run];
    if (!groups.has(key)) groups.set(key, { label, members: [] });
    groups.get(key).members.push(r);
  }
  const stats = [...groups.values()].map((g) => {
    const best = g.members.map((m) => m.best_value).filter((v) => v !== null);
    const mean = best.length ? best.reduce((a, b) => a + b, 0) / best.length : null;
    const std = best.length > 1 ? Math.sqrt(best.reduce((a, b) => a + (b - mean) ** 2, 0)
      / (best.length - 1)) : null;
    const overfit = g.members.filter((m) => m.status === "overfitting").length;
    return { ...g, mean, std, min: Math.min(...best), max: Math.max(...best), overfit,
      direction: g.members[0].direction };
  });
  return stats.sort((a, b) => compare(a.direction === "max" && a.mean !== null ? -a.mean : a.mean,
    b.direction === "max" && b.mean !== null ? -b.mean : b.mean));
}

function groupTable() {
  const head = el("tr", {}, ["", "group", "runs", "best mean ± std", "min – max", "status"]
    .map((label) => el("th", {}, [label])));
  const body = [];
  for (const g of groupsOf(filteredRuns())) {
    const open = state.expanded.has(g.label);
    const status = g.overfit ? `overfitting in ${g.overfit}/${g.members.length}`
      : g.members[0].status;
    const tr = el("tr", { class: "group", "data-group": g.label }, [
      el("td", {}, [open ? "▾" : "▸"]),
      el("td", { class: "name" }, [g.label]),
      el("td", { class: "num" }, [String(g.members.length)]),
      el("td", { class: "num" }, [`${fmt(g.mean)}${g.std === null ? "" : ` ± ${fmt(g.std)}`}`]),
      el("td", { class: "num" }, [`${fmt(g.min)} – ${fmt(g.max)}`]),
      el("td", {}, [g.overfit ? statusBadge("overfitting") : statusBadge(status),
        g.overfit ? ` ${g.overfit}/${g.members.length}` : ""]),
    ]);
    tr.addEventListener("click", () => {
      if (open) state.expanded.delete(g.label); else state.expanded.add(g.label);
      redrawTable();
    });
    body.push(tr);
    if (open) {
      for (const m of g.members) {
        const member = el("tr", { class: "run member", "data-run": m.run }, [
          el("td", {}, [""]), el("td", { class: "name" }, [m.run]), el("td", {}, [""]),
          el("td", { class: "num" }, [fmt(m.best_value)]), el("td", {}, [""]),
          el("td", {}, [statusBadge(m.status)]),
        ]);
        member.addEventListener("click", () => {
          state.selected = m.run;
          loadDetail();
        });
        body.push(member);
      }
    }
  }
  return el("table", { id: "runs" }, [el("thead", {}, [head]), el("tbody", {}, body)]);
}

function filteredRuns() {
  let pattern = null;
  try {
    pattern = state.filter ? new RegExp(state.filter) : null;
  } catch {
    return state.runs; // an unfinished regex filters nothing, like TensorBoard's
  }
  return state.runs.filter((r) => !pattern || pattern.test(r.run));
}

function rankedRuns() {
  return [...state.runs]
    .filter((r) => r.best_value !== null)
    .sort((a, b) => (a.direction === "max" ? b.best_value - a.best_value
      : a.best_value - b.best_value));
}

function worstRuns() {
  // Diverged, then overfitting runs; among them the furthest past their best first.
  return state.runs.filter((r) => r.status === "diverged" || r.status === "overfitting")
    .sort((a, b) => severity(a.status) - severity(b.status)
      || (b.generalization_loss ?? 0) - (a.generalization_loss ?? 0));
}

function hparamsText(run) {
  return state.varying.filter((name) => name in (run.hparams || {}))
    .map((name) => `${name}=${run.hparams[name]}`).join(", ");
}

function sortedRows() {
  // The table's rows: filtered, then sorted by the chosen column.
  const column = COLUMNS.find(([key]) => key === state.sortKey) || COLUMNS[1];
  const rows = filteredRuns().sort((a, b) => compare(column[2](a), column[2](b)));
  if (!state.sortAscending) rows.reverse();
  return rows;
}

function table() {
  if (state.groupOver) return groupTable();
  const rows = sortedRows();
  const head = el("tr", {}, [el("th", {}, ["overlay"]), ...COLUMNS.map(([key, label]) => {
    const arrow = key === state.sortKey ? (state.sortAscending ? " ▲" : " ▼") : "";
    const th = el("th", { class: "sortable", "data-key": key }, [label + arrow]);
    th.addEventListener("click", () => {
      state.sortAscending = key === state.sortKey ? !state.sortAscending : true;
      state.sortKey = key;
      redrawTable();
    });
    return th;
  })]);
  const body = rows.map((r) => {
    const box = el("input", { type: "checkbox" });
    box.checked = state.overlay.has(r.run);
    box.addEventListener("click", (event) => event.stopPropagation());
    box.addEventListener("change", () => {
      if (box.checked) state.overlay.add(r.run); else state.overlay.delete(r.run);
      loadOverlay();
    });
    const tr = el("tr", {
      class: "run" + (r.run === state.selected ? " selected" : ""), "data-run": r.run,
    }, [
      el("td", {}, [box]),
      el("td", { class: "name" }, [r.run]),
      el("td", {}, [statusBadge(r.status)]),
      el("td", {}, [r.monitor]),
      el("td", { class: "num" }, [fmt(r.best_value)]),
      el("td", { class: "num" }, [epochLabel(r.best_epoch)]),
      el("td", { class: "num" }, [epochLabel(r.onset_epoch)]),
      el("td", { class: "num" }, [fmt(r.gap)]),
      el("td", { class: "num" }, [latestVsBest(r.generalization_loss)]),
      el("td", { class: "num" }, [String(r.epochs ?? "–")]),
      el("td", { class: "hparams" }, [hparamsText(r)]),
    ]);
    tr.title = r.reason || "";
    tr.addEventListener("click", () => {
      state.selected = r.run;
      redrawTable();
      loadDetail();
    });
    return tr;
  });
  if (!body.length) {
    body.push(el("tr", {}, [el("td", { colspan: String(COLUMNS.length + 1), class: "muted" },
      [state.runs.length ? "No run matches the filter." : "No runs with epoch scalars yet."])]));
  }
  return el("table", { id: "runs" }, [el("thead", {}, [head]), el("tbody", {}, body)]);
}

function statusBadge(status) {
  const known = state.statuses.find((s) => s.status === status);
  const badge = el("span", { class: "status", title: known ? known.meaning : "" }, [status || "?"]);
  badge.style.background = known ? known.color : "#555";
  return badge;
}

function detailPane() {
  const pane = el("div", { class: "pane", id: "detail" });
  if (!state.selected) {
    pane.appendChild(el("p", { class: "muted" }, ["Click a run to see its figure and notes."]));
  }
  return pane;
}

async function loadDetail() {
  const run = state.runs.find((r) => r.run === state.selected);
  const pane = document.getElementById("detail");
  if (!pane) return;
  if (!run) {
    pane.replaceChildren(el("p", { class: "muted" }, [state.runs.length
      ? "No run matches the filter." : "Click a run to see its figure and notes."]));
    return;
  }
  pane.replaceChildren(el("h3", {}, [run.run]), el("p", { class: "reason" }, [run.reason]));
  // How the run's log was read, where the reader chose (a validation loader, steps
  // averaged per epoch): the same words the command prints under its table.
  for (const remark of run.remarks || []) {
    pane.appendChild(el("p", { class: "muted remark" }, [`Read as ${run.layout}: ${remark}`]));
  }
  // The rule book the run was judged by, where it is not the default one.
  const changed = Object.entries(run.settings || {});
  if (changed.length) {
    pane.appendChild(el("p", { class: "muted settings" }, [
      "Judged with detector settings: "
        + changed.map(([name, value]) => `${name}=${value}`).join(", "),
    ]));
  }
  // The run's own figure, or, for a run that logged none, one the plugin draws
  // from its scalars, judged as its row is (by the metric chosen above).
  const figure = ROUTE("figure");
  figure.searchParams.set("run", run.run);
  figure.searchParams.set("metric", state.metric);
  figure.searchParams.set("t", String(Date.now())); // the newest figure after a refresh
  const img = el("img", { class: "figure", src: figure.href, alt: `figure of ${run.run}` });
  pane.appendChild(img);
  if (!run.has_figure) {
    const caption = el("p", { class: "muted drawn" }, [
      "Drawn by the tab from the run's scalars; `tbviz annotate` writes figures and "
        + "notes into the run itself.",
    ]);
    pane.appendChild(caption);
    img.addEventListener("error", () => {
      img.remove();
      caption.replaceChildren("No comparison figure: the run has no epochs to draw.");
    });
  }
  const url = ROUTE("notes");
  url.searchParams.set("run", run.run);
  url.searchParams.set("metric", state.metric); // a run without notes gets one, judged so
  const response = await fetch(url);
  if (!response.ok || state.selected !== run.run) return;
  const { notes } = await response.json();
  for (const note of [...notes].reverse()) { // the final summary, then the newest note
    const kind = note.kind === "drawn" ? "written by the tab from the scalars" : note.kind;
    pane.appendChild(el("div", { class: "note" }, [
      el("div", { class: "muted" }, [`${kind} at ${epochLabel(note.step)}`]),
      markdownToDom(note.markdown),
    ]));
  }
}

function overlayPane() {
  return el("div", { class: "pane", id: "overlay" }, [
    el("p", { class: "muted" }, ["Loading the overlay…"]),
  ]);
}

async function loadOverlay() {
  const pane = document.getElementById("overlay");
  if (!pane) return;
  const url = ROUTE("overlay");
  url.searchParams.set("metric", state.metric);
  const shown = new Set(filteredRuns().map((r) => r.run)); // the filter holds here too
  const groups = state.groupOver ? groupsOf(filteredRuns()).slice(0, COLORS.length) : null;
  const ticked = groups ? groups.flatMap((g) => g.members.map((m) => m.run))
    : [...state.overlay].filter((run) => shown.has(run));
  for (const run of ticked) url.searchParams.append("run", run); // names may hold commas
  let series = [];
  if (ticked.length) {
    const response = await fetch(url);
    if (response.ok) series = (await response.json()).series;
  }
  const current = document.getElementById("overlay");
  if (!current) return;
  if (groups) series = groupSeries(groups, series);
  current.replaceChildren(
    el("h3", {}, [groups ? `Monitored metric by group over ${state.groupOver}`
      : "Monitored metric across runs"]),
    series.length ? chart(series)
      : el("p", { class: "muted" }, ["Tick runs in the table to overlay them."]));
}

// -- the overlay chart: plain SVG ---------------------------------------------

function groupSeries(groups, series) {
  // Each group's mean at every epoch its members reached, with the min–max band.
  const byRun = new Map(series.map((s) => [s.run, s]));
  return groups.map((g) => {
    const at = new Map();
    for (const m of g.members) {
      const s = byRun.get(m.run);
      if (!s) continue;
      s.steps.forEach((x, i) => {
        if (s.values[i] === null) return;
        if (!at.has(x)) at.set(x, []);
        at.get(x).push(s.values[i]);
      });
    }
    const steps = [...at.keys()].sort((a, b) => a - b);
    const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
    return {
      run: `${g.label} (n=${g.members.length})`, monitor: g.members[0].monitor,
      status: g.overfit ? `overfitting in ${g.overfit}/${g.members.length}` : g.members[0].status,
      steps, values: steps.map((x) => mean(at.get(x))),
      low: steps.map((x) => Math.min(...at.get(x))), high: steps.map((x) => Math.max(...at.get(x))),
      best_epoch: null, onset_epoch: null,
    };
  });
}

function chart(series) {
  const W = 560, H = 320, L = 56, R = 12, T = 12, B = 36;
  const points = series.flatMap((s) => s.steps.map((x, i) => [x, s.values[i]]))
    .filter(([, y]) => y !== null);
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: "overlay-chart" });
  if (!points.length) return svg;
  // Epochs as people count them (1-based), as many as the runs have, on round
  // ticks; values on a round range fenced as compare's overlay is, so one
  // run's large early loss leaves the axis (a triangle on its edge says where)
  // instead of flattening every other curve.
  const extent = Math.max(...points.map((p) => p[0])) + 1;
  const [low, high] = fencedRange(points.map((p) => p[1]));
  const range = snapRange(low, high);
  const px = (step) => L + ((step + 1 - 0.5) / extent) * (W - L - R);
  let offAxis = false;
  const clamp = (y) => Math.min(range.high, Math.max(range.low, y));
  const py = (y) => T + (1 - (clamp(y) - range.low) / (range.high - range.low)) * (H - T - B);
  svg.appendChild(svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B,
    fill: "none", stroke: "#bbb" }));
  const labels = tickLabels(range.ticks, range.step);
  range.ticks.forEach((y, i) => {
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: py(y), y2: py(y), stroke: "#eee" }));
    svg.appendChild(svgText(L - 6, py(y) + 4, labels[i], "end", "y-tick"));
  });
  for (const epoch of epochTicks(extent)) {
    svg.appendChild(svgText(px(epoch - 1), H - B + 16, String(epoch), "middle", "x-tick"));
  }
  svg.appendChild(svgText(L + (W - L - R) / 2, H - 4, "epoch", "middle"));
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length];
    if (s.low) { // a group: the band from its lowest to its highest member
      const top = s.steps.map((x, i) => `${px(x).toFixed(1)},${py(s.high[i]).toFixed(1)}`);
      const bottom = s.steps.map((x, i) => `${px(x).toFixed(1)},${py(s.low[i]).toFixed(1)}`);
      svg.appendChild(svgEl("polygon", { class: "band", points: [...top, ...bottom.reverse()]
        .join(" "), fill: color, "fill-opacity": 0.15, stroke: "none" }));
    }
    const path = s.steps.map((x, i) => [x, s.values[i]]).filter(([, y]) => y !== null)
      .map(([x, y], i) => `${i ? "L" : "M"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join("");
    svg.appendChild(svgEl("path", { d: path, fill: "none", stroke: color, "stroke-width": 2,
      "data-run": s.run }));
    s.steps.forEach((x, i) => {
      const y = s.values[i];
      if (y === null || (y <= range.high && y >= range.low)) return;
      offAxis = true;
      const [cx, edge, tip] = y > range.high ? [px(x), T, -6] : [px(x), H - B, 6];
      svg.appendChild(svgEl("path", { class: "off-axis", fill: color, "data-run": s.run,
        d: `M${cx - 4},${edge}L${cx + 4},${edge}L${cx},${edge + tip}Z` }));
    });
    const mark = (epoch, shape) => {
      const i = s.steps.indexOf(epoch);
      if (epoch === null || i < 0 || s.values[i] === null) return;
      const [cx, cy] = [px(epoch), py(s.values[i])];
      if (shape === "best") {
        svg.appendChild(svgEl("circle", { cx, cy, r: 4, fill: color }));
      } else {
        svg.appendChild(svgEl("path", { class: "onset", d: `M${cx - 5},${cy - 5}L${cx + 5},${cy + 5}M${cx - 5},${cy + 5}L${cx + 5},${cy - 5}`,
          stroke: "#d62728", "stroke-width": 2.5 }));
      }
    };
    mark(s.best_epoch, "best");
    mark(s.onset_epoch, "onset");
  });
  const legend = el("div", { class: "legend" }, series.map((s, index) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = COLORS[index % COLORS.length];
    return el("span", { class: "item" }, [swatch, `${s.run} (${s.monitor}, ${s.status})`]);
  }));
  const onsets = series.some((s) => s.onset_epoch !== null && s.onset_epoch !== undefined);
  const keys = [...(series.some((s) => s.low) ? ["band: min – max of the group's runs"]
    : ["● best epoch"]), ...(onsets ? ["✕ overfitting onset"] : []),
  ...(offAxis ? ["▲ value off the axis"] : [])];
  legend.appendChild(el("span", { class: "item muted" }, [keys.join("   ")]));
  return el("div", {}, [svg, legend]);
}

// -- notes: the small markdown tbviz writes, built as DOM nodes ---------------
//
// Paragraphs, "- " lists, pipe tables, **bold** and `code`; backslash escapes
// undone. Everything else stays literal text: nothing is ever parsed as HTML.

function markdownToDom(markdown) {
  const box = el("div", { class: "markdown" });
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("|")) {
      const rows = [];
      while (i < lines.length && lines[i].startsWith("|")) rows.push(lines[i++]);
      i--;
      box.appendChild(markdownTable(rows));
    } else if (line.startsWith("- ")) {
      const items = [];
      while (i < lines.length && lines[i].startsWith("- ")) items.push(lines[i++].slice(2));
      i--;
      box.appendChild(el("ul", {}, items.map((item) => el("li", {}, inline(item)))));
    } else if (line.trim()) {
      box.appendChild(el("p", {}, inline(line)));
    }
  }
  return box;
}

function markdownTable(rows) {
  const cells = (row) => row.replace(/^\||\|$/g, "").split(/(?<!\\)\|/).map((c) => c.trim());
  const body = rows.filter((row) => !/^\|[\s|:-]+\|$/.test(row));
  const [head, ...rest] = body;
  return el("table", { class: "md" }, [
    el("thead", {}, [el("tr", {}, cells(head).map((c) => el("th", {}, inline(c))))]),
    el("tbody", {}, rest.map((r) => el("tr", {}, cells(r).map((c) => el("td", {}, inline(c)))))),
  ]);
}

function inline(text) {
  // Code spans first (their content is literal), then bold, italics, escapes:
  // the subset of markdown tbviz writes, rendered as TensorBoard's Text tab does.
  const nodes = [];
  const pattern = /(`+)(.+?)\1|\*\*(.+?)\*\*|(?<![\\*])\*(?![\s*])(.+?)(?<![\s\\])\*/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    nodes.push(unescapeMarkdown(text.slice(last, match.index)));
    if (match[2] !== undefined) nodes.push(el("code", {}, [match[2].trim()]));
    else if (match[3] !== undefined) nodes.push(el("strong", {}, inline(match[3])));
    else nodes.push(el("em", {}, inline(match[4])));
    last = match.index + match[0].length;
  }
  nodes.push(unescapeMarkdown(text.slice(last)));
  return nodes;
}

function unescapeMarkdown(text) {
  return text.replace(/\\([\\`*_{}\[\]()#+\-.!|~])/g, "$1")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

// -- helpers -------------------------------------------------------------------

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function svgText(x, y, text, anchor, cls = "") {
  const node = svgEl("text", { x, y, "text-anchor": anchor, "font-size": 11, fill: "#444",
    class: cls });
  node.textContent = text;
  return node;
}

function compare(a, b) {
  if (Array.isArray(a)) {
    for (let i = 0; i < a.length; i++) {
      const order = compare(a[i], b[i]);
      if (order) return order;
    }
    return 0;
  }
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
}

function fmt(value) {
  // Four significant digits everywhere; scientific notation only far from 1.
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(2) : value.toPrecision(4).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

function latestVsBest(percent) {
  // How far the latest epoch is from the best one: always one decimal.
  if (percent === null || percent === undefined) return "–";
  return percent <= 0.05 ? "at best" : `${percent.toFixed(1)}% worse`;
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

// -- round axes: the rules of tbviz/figures/scales.py -------------------------

function niceStep(span, bins = 5) {
  if (!(span > 0)) return 1;
  const raw = span / bins, power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw * (1 - 1e-9));
}

function snapRange(low, high) {
  let lo = low, hi = high;
  const span = high - low;
  if (span <= 0) {
    const half = (Math.abs(high) * 0.2 || 1) / 2;
    lo -= half; hi += half;
  } else {
    lo -= span * 0.06; hi += span * 0.06;
  }
  if (low >= 0 && lo < 0) lo = 0;
  if (low >= 0 && high <= 1 && hi > 1) hi = 1;
  const step = niceStep(hi - lo);
  let start = Math.floor(lo / step + 1e-9) * step, stop = Math.ceil(hi / step - 1e-9) * step;
  if (start > low) start -= step; // float noise must not leave the data outside
  if (stop < high) stop += step;
  const count = Math.round((stop - start) / step);
  const ticks = Array.from({ length: count + 1 }, (_, i) => start + i * step);
  return { low: start, high: stop, step, ticks };
}

function tickLabels(ticks, step) {
  const biggest = Math.max(...ticks.map(Math.abs));
  if (step < 1e-3 || biggest >= 1e5) {
    // As many digits as tell one tick from the next: 9.75e5, 1.005e6.
    const digits = Math.max(0, Math.floor(Math.log10(biggest || step)) - Math.floor(Math.log10(step)));
    return ticks.map((t) => (t === 0 ? "0"
      : t.toExponential(digits).replace(/(\.\d*?)0+e/, "$1e").replace(/\.e/, "e").replace("e+", "e")));
  }
  let decimals = 0;
  while (decimals < 6 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) {
    decimals += 1;
  }
  return ticks.map((t) => t.toFixed(decimals));
}

function fencedRange(values) {
  // tbviz/figures/scales.py's fenced(): the span of the values within Tukey's
  // far-out fences (quartiles -/+ 3 interquartile ranges).
  const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  const quantile = (q) => {
    const at = q * (v.length - 1), below = Math.floor(at), above = Math.min(below + 1, v.length - 1);
    return v[below] + (v[above] - v[below]) * (at - below);
  };
  const q1 = quantile(0.25), q3 = quantile(0.75), spread = q3 - q1;
  if (!(spread > 0)) return [v[0], v[v.length - 1]];
  return [Math.max(v[0], q1 - 3 * spread), Math.min(v[v.length - 1], q3 + 3 * spread)];
}

function epochTicks(extent) {
  if (extent <= 5) return Array.from({ length: extent }, (_, i) => i + 1);
  const step = Math.max(1, Math.floor(niceStep(extent)));
  const ticks = [];
  for (let t = step; t <= extent; t += step) ticks.push(t);
  return ticks;
}

function epochLabel(epoch) {
  return epoch === null || epoch === undefined ? "–" : `epoch ${epoch + 1}`;
}

function styles() {
  const style = document.createElement("style");
  style.textContent = `
    body { font-family: Roboto, sans-serif; font-size: 13px; color: #212121; margin: 16px; }
    h2 { font-size: 18px; margin: 0 0 4px; } h3 { font-size: 15px; margin: 8px 0; }
    .muted { color: #757575; }
    .filter { margin: 12px 0; display: flex; gap: 8px; }
    .filter input { width: 320px; padding: 4px 6px; }
    table { border-collapse: collapse; width: 100%; }
    th, td { padding: 4px 8px; border-bottom: 1px solid #e0e0e0; text-align: left; }
    th.sortable { cursor: pointer; user-select: none; white-space: nowrap; }
    td.num { text-align: right; white-space: nowrap; }
    td.name { font-family: monospace; word-break: break-all; }
    td.hparams { font-family: monospace; font-size: 12px; }
    tr.run { cursor: pointer; } tr.run:hover { background: #f5f5f5; }
    tr.selected { background: #fff3e0; }
    .status { color: white; border-radius: 8px; padding: 1px 8px; font-size: 12px; }
    .panes { display: flex; flex-wrap: wrap; gap: 24px; margin-top: 16px; }
    .pane { flex: 1 1 520px; min-width: 0; }
    .figure { max-width: 100%; border: 1px solid #e0e0e0; }
    .markdown { background: #fafafa; padding: 4px 10px; margin: 4px 0 12px; }
    .markdown p, .markdown ul { margin: 6px 0; }
    table.md { width: auto; font-size: 12px; } table.md th, table.md td { padding: 2px 8px; }
    .legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 12px; }
    .swatch { display: inline-block; width: 12px; height: 3px; margin-right: 4px;
      vertical-align: middle; }
  `;
  return style;
}
