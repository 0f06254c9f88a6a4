// The course's optimizers, live in the reader's browser: no kernel, no network, no build step.
//
// This file mirrors three modules of course_lib, line for line, so that the page and the
// library cannot drift (tests/test_live_playground.py runs both and compares trajectories):
//
//   ops        course_lib.rules.NumpyOps: in-place array operations on Float64Array;
//              every op ending in "_" writes into its first argument.
//   rules      course_lib.rules: one init and one update function per rule.
//   surfaces   course_lib.surfaces: f, its gradient and its Hessian.
//   schedules  course_lib.schedules: learning rate as a function of the step t.
//   run        course_lib.descent.run for one start.
//
// The arithmetic is the numpy engine's, in the same order, so trajectories agree to
// rounding. The <course-playground> element at the end draws them.

// ----------------------------------------------------------------------------- ops
const at = (y, i) => (typeof y === "number" ? y : y[i]);

export const ops = {
  zeros_like: (x) => new Float64Array(x.length),
  full_like: (x, value) => new Float64Array(x.length).fill(value),
  clone: (x) => Float64Array.from(x),
  add(x, y, alpha = 1) {            // x + alpha * y (new array)
    const out = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      out[i] = alpha === 1 ? x[i] + at(y, i) : x[i] + alpha * at(y, i);
    }
    return out;
  },
  add_(x, y, alpha = 1) {           // x += alpha * y
    for (let i = 0; i < x.length; i++) {
      x[i] = alpha === 1 ? x[i] + at(y, i) : x[i] + at(y, i) * alpha;
    }
    return x;
  },
  mul_(x, y) {
    for (let i = 0; i < x.length; i++) x[i] = x[i] * at(y, i);
    return x;
  },
  div_(x, y) {
    for (let i = 0; i < x.length; i++) x[i] = x[i] / at(y, i);
    return x;
  },
  addcmul(x, a, b, value = 1) {     // x + value * a * b (new array)
    const out = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const t = value !== 1 ? a[i] * b[i] * value : a[i] * b[i];
      out[i] = x[i] + t;
    }
    return out;
  },
  addcmul_(x, a, b, value = 1) {    // x += value * a * b
    for (let i = 0; i < x.length; i++) {
      const t = value !== 1 ? a[i] * b[i] * value : a[i] * b[i];
      x[i] = x[i] + t;
    }
    return x;
  },
  addcdiv_(x, a, b, value = 1) {    // x += value * a / b
    for (let i = 0; i < x.length; i++) {
      const t = value !== 1 ? (a[i] / b[i]) * value : a[i] / b[i];
      x[i] = x[i] + t;
    }
    return x;
  },
  lerp_(x, y, weight) {             // x += weight * (y - x)
    for (let i = 0; i < x.length; i++) x[i] = x[i] + (y[i] - x[i]) * weight;
    return x;
  },
  sqrt: (x) => x.map(Math.sqrt),
  sqrt_(x) {
    for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(x[i]);
    return x;
  },
  maximum_(x, y) {                  // NaN wins, as in numpy.maximum
    for (let i = 0; i < x.length; i++) {
      x[i] = Number.isNaN(x[i]) || Number.isNaN(y[i]) ? NaN : Math.max(x[i], y[i]);
    }
    return x;
  },
  solve(h, g) {                     // H^{-1} g for a 2x2 Hessian [[a, b], [c, d]]
    const [a, b, c, d] = h;
    const det = a * d - b * c;
    return Float64Array.of((d * g[0] - b * g[1]) / det, (a * g[1] - c * g[0]) / det);
  },
};

// --------------------------------------------------------------------------- rules
function weightDecay(param, grad, weight_decay) {      // g + wd * p (coupled L2)
  return weight_decay ? ops.add(grad, param, weight_decay) : grad;
}

function sgdUpdate(param, grad, state, { lr, weight_decay = 0 }) {
  grad = weightDecay(param, grad, weight_decay);
  ops.add_(param, grad, -lr);                           // p <- p - lr g
}

function momentumUpdate(param, grad, state,
  { lr, momentum = 0.9, dampening = 0, nesterov = false, weight_decay = 0 }) {
  grad = weightDecay(param, grad, weight_decay);
  let buf = state.momentum_buffer;
  if (buf === null) {
    buf = state.momentum_buffer = ops.clone(grad);      // v <- g on the first step
  } else {
    ops.mul_(buf, momentum);                            // v <- mu v + (1 - dampening) g
    ops.add_(buf, grad, 1 - dampening);
  }
  const direction = nesterov ? ops.add(grad, buf, momentum) : buf;
  ops.add_(param, direction, -lr);                      // p <- p - lr v
}

function adagradUpdate(param, grad, state,
  { lr, lr_decay = 0, weight_decay = 0, eps = 1e-10 }) {
  state.step += 1;
  grad = weightDecay(param, grad, weight_decay);
  const clr = lr / (1 + (state.step - 1) * lr_decay);
  ops.addcmul_(state.sum, grad, grad, 1);               // s <- s + g^2
  const std = ops.add_(ops.sqrt(state.sum), eps);
  ops.addcdiv_(param, grad, std, -clr);                 // p <- p - lr g / (sqrt(s) + eps)
}

function rmspropUpdate(param, grad, state,
  { lr, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false }) {
  state.step += 1;
  grad = weightDecay(param, grad, weight_decay);
  const square_avg = state.square_avg;
  ops.mul_(square_avg, alpha);                          // s <- alpha s + (1 - alpha) g^2
  ops.addcmul_(square_avg, grad, grad, 1 - alpha);
  let avg;
  if (centered) {
    ops.lerp_(state.grad_avg, grad, 1 - alpha);
    avg = ops.sqrt_(ops.addcmul(square_avg, state.grad_avg, state.grad_avg, -1));
  } else {
    avg = ops.sqrt(square_avg);
  }
  ops.add_(avg, eps);
  if (momentum > 0) {
    const buf = state.momentum_buffer;
    ops.mul_(buf, momentum);
    ops.addcdiv_(buf, grad, avg);
    ops.add_(param, buf, -lr);
  } else {
    ops.addcdiv_(param, grad, avg, -lr);                // p <- p - lr g / (sqrt(s) + eps)
  }
}

function adamUpdate(param, grad, state,
  { lr, betas = [0.9, 0.999], eps = 1e-8, weight_decay = 0, amsgrad = false,
    decoupled_weight_decay = false, bias_correction = true }) {
  const [beta1, beta2] = betas;
  state.step += 1;
  const t = state.step;
  if (weight_decay) {
    if (decoupled_weight_decay) ops.mul_(param, 1 - lr * weight_decay);   // AdamW
    else grad = ops.add(grad, param, weight_decay);
  }
  let exp_avg_sq = state.exp_avg_sq;
  ops.lerp_(state.exp_avg, grad, 1 - beta1);            // m <- beta1 m + (1 - beta1) g
  ops.mul_(exp_avg_sq, beta2);                          // v <- beta2 v + (1 - beta2) g^2
  ops.addcmul_(exp_avg_sq, grad, grad, 1 - beta2);
  if (amsgrad) exp_avg_sq = ops.maximum_(state.max_exp_avg_sq, exp_avg_sq);
  let correction1 = 1;
  let correction2_sqrt = 1;
  if (bias_correction) {
    correction1 = 1 - beta1 ** t;
    correction2_sqrt = Math.sqrt(1 - beta2 ** t);
  }
  // m_hat / (sqrt(v_hat) + eps) as (c2 / c1) m / (sqrt(v) + eps c2), as course_lib does
  const denom = ops.add_(ops.sqrt(exp_avg_sq), eps * correction2_sqrt);
  ops.addcdiv_(param, state.exp_avg, denom, -lr * correction2_sqrt / correction1);
}

function adadeltaUpdate(param, grad, state,
  { lr = 1, rho = 0.9, eps = 1e-6, weight_decay = 0 }) {
  state.step += 1;
  grad = weightDecay(param, grad, weight_decay);
  const { square_avg, acc_delta } = state;
  ops.mul_(square_avg, rho);                            // s <- rho s + (1 - rho) g^2
  ops.addcmul_(square_avg, grad, grad, 1 - rho);
  const std = ops.sqrt_(ops.add(square_avg, eps));
  const delta = ops.sqrt_(ops.add(acc_delta, eps));     // d <- sqrt(u + eps) / sqrt(s + eps) g
  ops.div_(delta, std);
  ops.mul_(delta, grad);
  ops.mul_(acc_delta, rho);                             // u <- rho u + (1 - rho) d^2
  ops.addcmul_(acc_delta, delta, delta, 1 - rho);
  ops.add_(param, delta, -lr);
}

function newtonUpdate(param, grad, state, { lr = 1, hessian }) {
  ops.add_(param, ops.solve(hessian, grad), -lr);       // p <- p - lr H^{-1} g
}

const noState = () => ({});
const momentumDefaults = { lr: 1e-3, momentum: 0.9, dampening: 0, nesterov: false,
  weight_decay: 0 };
const adamDefaults = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0,
  amsgrad: false, decoupled_weight_decay: false, bias_correction: true };

export const rules = {
  sgd: { init: noState, update: sgdUpdate, defaults: { lr: 1e-3, weight_decay: 0 } },
  momentum: { init: () => ({ momentum_buffer: null }), update: momentumUpdate,
    defaults: momentumDefaults },
  nesterov: { init: () => ({ momentum_buffer: null }), update: momentumUpdate,
    defaults: { ...momentumDefaults, nesterov: true } },
  adagrad: {
    init: (p, { initial_accumulator_value = 0 }) => (
      { step: 0, sum: ops.full_like(p, initial_accumulator_value) }),
    update: adagradUpdate,
    defaults: { lr: 1e-2, lr_decay: 0, weight_decay: 0, initial_accumulator_value: 0,
      eps: 1e-10 },
  },
  rmsprop: {
    init(p, { momentum = 0, centered = false }) {
      const state = { step: 0, square_avg: ops.zeros_like(p) };
      if (momentum > 0) state.momentum_buffer = ops.zeros_like(p);
      if (centered) state.grad_avg = ops.zeros_like(p);
      return state;
    },
    update: rmspropUpdate,
    defaults: { lr: 1e-2, alpha: 0.99, eps: 1e-8, weight_decay: 0, momentum: 0,
      centered: false },
  },
  adam: { init: adamInit, update: adamUpdate, defaults: adamDefaults },
  adamw: { init: adamInit, update: adamUpdate,
    defaults: { ...adamDefaults, weight_decay: 1e-2, decoupled_weight_decay: true } },
  adadelta: {
    init: (p) => ({ step: 0, square_avg: ops.zeros_like(p), acc_delta: ops.zeros_like(p) }),
    update: adadeltaUpdate,
    defaults: { lr: 1, rho: 0.9, eps: 1e-6, weight_decay: 0 },
  },
  newton: { init: noState, update: newtonUpdate, defaults: { lr: 1, hessian: null } },
};

function adamInit(p, { amsgrad = false }) {
  const state = { step: 0, exp_avg: ops.zeros_like(p), exp_avg_sq: ops.zeros_like(p) };
  if (amsgrad) state.max_exp_avg_sq = ops.zeros_like(p);
  return state;
}

// ------------------------------------------------------------------------ surfaces
// Each: f(x, y), df(x, y) -> [fx, fy], d2f(x, y) -> [fxx, fxy, fyy].
function quadratic({ A, minimum = [0, 0], minValue = 0 }) {
  const [[a, b], [, d]] = A;
  const [x0, y0] = minimum;
  return {
    f(x, y) { const u = x - x0, v = y - y0; return 0.5 * (a * u * u + 2 * b * u * v + d * v * v) + minValue; },
    df(x, y) { const u = x - x0, v = y - y0; return [a * u + b * v, b * u + d * v]; },
    d2f: () => [a, b, d],
  };
}

const BEALE_C = [1.5, 2.25, 2.625];
const powers = (y) => { const y2 = y * y; return [1, y, y2, y2 * y]; };

export const surfaces = {
  quadratic,
  rosenbrock: () => ({
    f(x, y) { const r = y - x * x; return (1 - x) * (1 - x) + 100 * r * r; },
    df(x, y) { const r = y - x * x; return [-2 * (1 - x) - 400 * x * r, 200 * r]; },
    d2f: (x, y) => [2 - 400 * (y - x * x) + 800 * x * x, -400 * x, 200],
  }),
  beale: () => ({
    f(x, y) {
      const yk = powers(y);
      let total = 0;
      BEALE_C.forEach((c, i) => { const r = c - x + x * yk[i + 1]; total = total + r * r; });
      return total;
    },
    df(x, y) {
      const yk = powers(y);
      let gx = 0, gy = 0;
      BEALE_C.forEach((c, i) => {
        const k = i + 1, r = c - x + x * yk[k];
        gx = gx + 2 * r * (yk[k] - 1);
        gy = gy + 2 * r * k * x * yk[k - 1];
      });
      return [gx, gy];
    },
    d2f(x, y) {
      const yk = powers(y);
      let hxx = 0, hxy = 0, hyy = 0;
      BEALE_C.forEach((c, i) => {
        const k = i + 1, r = c - x + x * yk[k];
        const rx = yk[k] - 1, ry = k * x * yk[k - 1];
        const ryy = k > 1 ? k * (k - 1) * x * yk[k - 2] : 0, rxy = k * yk[k - 1];
        hxx = hxx + 2 * rx * rx;
        hxy = hxy + 2 * (rx * ry + r * rxy);
        hyy = hyy + 2 * (ry * ry + r * ryy);
      });
      return [hxx, hxy, hyy];
    },
  }),
  himmelblau: () => ({
    f(x, y) { const a = x * x + y - 11, b = x + y * y - 7; return a * a + b * b; },
    df(x, y) {
      const a = x * x + y - 11, b = x + y * y - 7;
      return [4 * x * a + 2 * b, 2 * a + 4 * y * b];
    },
    d2f(x, y) {
      const a = x * x + y - 11, b = x + y * y - 7;
      return [4 * a + 8 * x * x + 2, 4 * x + 4 * y, 2 + 4 * b + 8 * y * y];
    },
  }),
  saddle: () => ({
    f: (x, y) => x * x - y * y, df: (x, y) => [2 * x, -2 * y], d2f: () => [2, 0, -2],
  }),
  monkey_saddle: () => ({
    f: (x, y) => x * x * x - 3 * x * y * y,
    df: (x, y) => [3 * x * x - 3 * y * y, -6 * x * y],
    d2f: (x, y) => [6 * x, -6 * y, -6 * x],
  }),
};

/** A surface from its description: {name} or {name: "quadratic", A, minimum, minValue}. */
export function makeSurface(spec) {
  const build = surfaces[spec.kind || spec.name];
  if (!build) throw new Error(`unknown surface ${JSON.stringify(spec.name)}`);
  return build(spec);
}

// ----------------------------------------------------------------------- schedules
export const schedules = {
  constant: ({ lr }) => () => lr,
  step_decay: ({ lr, step_size, gamma = 0.1 }) => (t) => lr * gamma ** Math.floor(t / step_size),
  exponential: ({ lr, gamma }) => (t) => lr * gamma ** t,
  cosine: ({ lr, total_steps, min_lr = 0 }) => (t) => {
    t = Math.min(t, total_steps);
    return min_lr + (lr - min_lr) * (1 + Math.cos(Math.PI * t / total_steps)) / 2;
  },
  inverse_power: ({ lr, tau, power }) => (t) => lr / (1 + t / tau) ** power,
  linear_warmup: ({ schedule, warmup_steps }) => {
    const inner = makeSchedule(schedule);
    return (t) => inner(t) * Math.min(1, (t + 1) / warmup_steps);
  },
  inverse_sqrt: ({ d_model, warmup_steps, scale = 1 }) => (t) => {
    const s = t + 1;
    return scale * d_model ** -0.5 * Math.min(s ** -0.5, s * warmup_steps ** -1.5);
  },
};

/** A schedule t -> lr from {name, ...its parameters}. */
export function makeSchedule(spec) {
  const build = schedules[spec.name];
  if (!build) throw new Error(`unknown schedule ${JSON.stringify(spec.name)}`);
  return build(spec);
}

// ----------------------------------------------------------------------------- run
/**
 * course_lib.descent.run for one start: {trajectory: [[x, y], ...], loss, divergedAt}.
 * A start diverges at the first step whose point is not finite or has |coordinate| >
 * bound; the run stops there and the point is kept (the numpy engine freezes it).
 */
export function run(ruleName, surface, start, steps, hyper = {}, schedule = null,
  bound = 1e6) {
  const rule = rules[ruleName];
  if (!rule) throw new Error(`unknown rule ${JSON.stringify(ruleName)}`);
  const h = { ...rule.defaults, ...hyper };
  const x = Float64Array.from(start);
  const state = rule.init(x, h);
  const trajectory = [[x[0], x[1]]];
  let divergedAt = -1;
  for (let t = 0; t < steps; t++) {
    h.lr = schedule ? schedule(t) : h.lr;
    if (ruleName === "newton") {
      const [hxx, hxy, hyy] = surface.d2f(x[0], x[1]);
      h.hessian = [hxx, hxy, hxy, hyy];
    }
    rule.update(x, Float64Array.from(surface.df(x[0], x[1])), state, h);
    trajectory.push([x[0], x[1]]);
    if (!(Math.abs(x[0]) <= bound && Math.abs(x[1]) <= bound)) {
      divergedAt = t + 1;
      break;
    }
  }
  const loss = trajectory.map(([px, py]) => surface.f(px, py));
  return { trajectory, loss, divergedAt };
}

// ------------------------------------------------------------- the live playground
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const SIZE = 360;

function slider(label, spec, onInput) {
  // A labelled, keyboard-operable range input with its value shown as a number.
  const row = document.createElement("label");
  row.className = "cp-row";
  const name = document.createElement("span");
  name.textContent = label;
  const input = document.createElement("input");
  input.type = "range";
  const log = Boolean(spec.log);
  const toValue = (u) => (log ? 10 ** u : u);
  input.min = log ? Math.log10(spec.min) : spec.min;
  input.max = log ? Math.log10(spec.max) : spec.max;
  input.step = spec.step ?? (log ? 0.01 : (spec.max - spec.min) / 200);
  input.value = log ? Math.log10(spec.value) : spec.value;
  input.setAttribute("aria-label", label);
  const output = document.createElement("output");
  const show = () => {
    const value = toValue(Number(input.value));
    output.textContent = spec.integer ? String(Math.round(value)) : value.toPrecision(3);
    input.setAttribute("aria-valuetext", output.textContent);
  };
  input.addEventListener("input", () => { show(); onInput(); });
  show();
  row.append(name, input, output);
  return { row, value: () => (spec.integer ? Math.round(toValue(Number(input.value)))
    : toValue(Number(input.value))) };
}

function colormapImage(context, surface, bounds) {
  // A filled contour plot: log of the value above the grid's minimum, in bands.
  const [[x0, x1], [y0, y1]] = bounds;
  const image = context.createImageData(SIZE, SIZE);
  const values = new Float64Array(SIZE * SIZE);
  let low = Infinity;
  for (let j = 0; j < SIZE; j++) {
    for (let i = 0; i < SIZE; i++) {
      const v = surface.f(x0 + (x1 - x0) * (i + 0.5) / SIZE, y1 - (y1 - y0) * (j + 0.5) / SIZE);
      values[j * SIZE + i] = v;
      if (v < low) low = v;
    }
  }
  let high = -Infinity;
  for (let k = 0; k < values.length; k++) {
    values[k] = Math.log10(values[k] - low + 1e-3);
    if (values[k] > high) high = values[k];
  }
  const floor = Math.log10(1e-3);
  for (let k = 0; k < values.length; k++) {
    const level = Math.floor(14 * (values[k] - floor) / (high - floor + 1e-12));
    const shade = 250 - 11 * level - (level % 2 ? 6 : 0);
    image.data.set([shade, shade + 3, 255 - 4 * level, 255], 4 * k);
  }
  return image;
}

class CoursePlayground extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    this.config = JSON.parse(this.dataset.config);
    this.start = [...this.config.start];
    this.pending = false;
    this.build();
    this.selectSurface(0);
  }

  build() {
    const { config } = this;
    this.innerHTML = "";
    const controls = document.createElement("div");
    controls.className = "cp-controls";
    if (config.surfaces.length > 1) {
      const row = document.createElement("label");
      row.className = "cp-row";
      row.append("surface ");
      this.surfaceSelect = document.createElement("select");
      config.surfaces.forEach((s, i) => this.surfaceSelect.add(new Option(s.label, i)));
      this.surfaceSelect.addEventListener("change",
        () => this.selectSurface(Number(this.surfaceSelect.value)));
      row.append(this.surfaceSelect);
      controls.append(row);
    }
    this.steps = slider("steps", { min: 1, max: config.maxSteps, value: config.steps,
      step: 1, integer: true }, () => this.redraw());
    controls.append(this.steps.row);
    this.rules = config.rules.map((spec, index) => this.ruleControls(spec, index, controls));
    if (config.schedule) this.scheduleControls(controls);
    const figures = document.createElement("div");
    figures.className = "cp-figures";
    this.canvas = this.canvasWith("contour plot: click or drag to set the start; arrow keys move it");
    this.lossCanvas = this.canvasWith("loss against step");
    figures.append(this.canvas, this.lossCanvas);
    this.status = document.createElement("p");
    this.status.className = "cp-status";
    this.status.setAttribute("aria-live", "polite");
    this.append(controls, figures, this.status);
    this.bindPointer();
  }

  canvasWith(label) {
    const canvas = document.createElement("canvas");
    canvas.width = SIZE;
    canvas.height = SIZE;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", label);
    return canvas;
  }

  ruleControls(spec, index, parent) {
    const box = document.createElement("fieldset");
    const legend = document.createElement("legend");
    const enabled = document.createElement("input");
    enabled.type = "checkbox";
    enabled.checked = spec.enabled !== false;
    enabled.addEventListener("change", () => this.redraw());
    const color = COLORS[index % COLORS.length];
    const swatch = document.createElement("span");
    swatch.style.color = color;
    swatch.textContent = "\u25A0 ";
    const name = document.createElement("label");
    name.append(enabled, " ", swatch, spec.label);
    legend.append(name);
    box.append(legend);
    const sliders = {};
    for (const [key, range] of Object.entries(spec.hyper)) {
      sliders[key] = slider(range.label || key, range, () => this.redraw());
      box.append(sliders[key].row);
    }
    parent.append(box);
    return { spec, color, enabled, sliders };
  }

  scheduleControls(parent) {
    const row = document.createElement("label");
    row.className = "cp-row";
    row.append("learning-rate schedule ");
    this.scheduleSelect = document.createElement("select");
    for (const name of Object.keys(this.config.schedule.options)) {
      this.scheduleSelect.add(new Option(name, name));
    }
    this.scheduleSelect.value = this.config.schedule.value;
    this.scheduleSelect.addEventListener("change", () => this.redraw());
    row.append(this.scheduleSelect);
    parent.append(row);
  }

  scheduleFor(lr, steps) {
    if (!this.scheduleSelect) return null;
    const spec = this.config.schedule.options[this.scheduleSelect.value];
    // fractions of the run become step counts, so the schedule follows the steps slider
    const resolve = (s) => {
      const out = { ...s, lr };
      for (const key of ["step_size", "total_steps", "warmup_steps"]) {
        if (key in s) out[key] = Math.max(1, Math.round(s[key] * steps));
      }
      if (s.schedule) out.schedule = resolve(s.schedule);
      return out;
    };
    return makeSchedule(resolve(spec));
  }

  selectSurface(index) {
    this.surfaceSpec = this.config.surfaces[index];
    this.surface = makeSurface(this.surfaceSpec);
    this.background = colormapImage(this.canvas.getContext("2d"), this.surface,
      this.surfaceSpec.bounds);
    if (this.surfaceSpec.start) this.start = [...this.surfaceSpec.start];
    this.redraw();
  }

  toCanvas([x, y]) {
    const [[x0, x1], [y0, y1]] = this.surfaceSpec.bounds;
    return [(x - x0) / (x1 - x0) * SIZE, (y1 - y) / (y1 - y0) * SIZE];
  }

  bindPointer() {
    const place = (event) => {
      const box = this.canvas.getBoundingClientRect();
      const [[x0, x1], [y0, y1]] = this.surfaceSpec.bounds;
      const u = (event.clientX - box.left) / box.width;
      const v = (event.clientY - box.top) / box.height;
      this.start = [x0 + u * (x1 - x0), y1 - v * (y1 - y0)];
      this.redraw();
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      this.canvas.setPointerCapture(event.pointerId);
      place(event);
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (event.buttons) place(event);
    });
    this.canvas.tabIndex = 0;
    this.canvas.addEventListener("keydown", (event) => {
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const [[x0, x1], [y0, y1]] = this.surfaceSpec.bounds;
      const [dx, dy] = moves[event.key];
      this.start = [this.start[0] + dx * (x1 - x0) / 50, this.start[1] + dy * (y1 - y0) / 50];
      this.redraw();
    });
  }

  redraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.compute(); this.paint(); });
  }

  compute() {
    const steps = this.steps.value();
    this.runs = [];
    for (const rule of this.rules) {
      if (!rule.enabled.checked) continue;
      const hyper = { ...rule.spec.fixed };
      for (const [key, control] of Object.entries(rule.sliders)) hyper[key] = control.value();
      if ("beta1" in hyper || "beta2" in hyper) {        // Adam's pair, one slider each
        const [beta1, beta2] = hyper.betas || rules[rule.spec.rule].defaults.betas;
        hyper.betas = [hyper.beta1 ?? beta1, hyper.beta2 ?? beta2];
        delete hyper.beta1;
        delete hyper.beta2;
      }
      const schedule = this.scheduleFor(hyper.lr, steps);
      const result = run(rule.spec.rule, this.surface, this.start, steps, hyper, schedule,
        this.config.bound);
      this.runs.push({ rule, result });
    }
  }

  paint() {
    const context = this.canvas.getContext("2d");
    context.putImageData(this.background, 0, 0);
    for (const minimum of this.surfaceSpec.minima || []) {
      const [u, v] = this.toCanvas(minimum);
      context.fillStyle = "#000";
      context.fillRect(u - 3, v - 3, 6, 6);
    }
    const messages = [];
    for (const { rule, result } of this.runs) {
      context.strokeStyle = rule.color;
      context.lineWidth = 1.5;
      context.beginPath();
      result.trajectory.forEach((point, i) => {
        const [u, v] = this.toCanvas(point);
        if (i === 0) context.moveTo(u, v); else context.lineTo(u, v);
      });
      context.stroke();
      const last = result.loss[result.loss.length - 1];
      messages.push(result.divergedAt >= 0
        ? `${rule.spec.label}: diverged at step ${result.divergedAt} (stopped there)`
        : `${rule.spec.label}: loss ${last.toPrecision(3)} after ${result.loss.length - 1} steps`);
    }
    const [u, v] = this.toCanvas(this.start);
    context.fillStyle = "#fff";
    context.strokeStyle = "#000";
    context.beginPath();
    context.arc(u, v, 5, 0, 2 * Math.PI);
    context.fill();
    context.stroke();
    this.paintLoss();
    this.status.textContent = `start (${this.start[0].toFixed(2)}, ${this.start[1].toFixed(2)}). `
      + messages.join("; ");
  }

  paintLoss() {
    const context = this.lossCanvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, SIZE, SIZE);
    const floor = this.surfaceSpec.minValue;
    const logScale = floor !== undefined && floor !== null;
    const show = (value) => (logScale ? Math.log10(Math.max(value - floor, 1e-16)) : value);
    const finite = this.runs.flatMap(({ result }) => result.loss.map(show))
      .filter(Number.isFinite);
    if (!finite.length) return;
    let low = Math.min(...finite), high = Math.max(...finite);
    if (high - low < 1e-9) { low -= 1; high += 1; }
    const steps = Math.max(1, this.steps.value());
    const pad = 34;
    const toPixel = (step, value) => [pad + (SIZE - pad - 6) * step / steps,
      6 + (SIZE - pad - 6) * (high - show(value)) / (high - low)];
    context.strokeStyle = "#888";
    context.strokeRect(pad, 6, SIZE - pad - 6, SIZE - pad - 6);
    context.fillStyle = "#000";
    context.font = "11px sans-serif";
    context.fillText(logScale ? "log10(loss - min)" : "loss", 2, 14);
    context.fillText(high.toPrecision(3), 2, 28);
    context.fillText(low.toPrecision(3), 2, SIZE - pad);
    context.fillText(`step (0 to ${steps})`, SIZE / 2 - 30, SIZE - 10);
    for (const { rule, result } of this.runs) {
      context.strokeStyle = rule.color;
      context.beginPath();
      let drawing = false;
      result.loss.forEach((value, step) => {
        if (!Number.isFinite(show(value))) { drawing = false; return; }
        const [u, v] = toPixel(step, value);
        if (drawing) context.lineTo(u, Math.max(0, Math.min(SIZE, v)));
        else context.moveTo(u, v);
        drawing = true;
      });
      context.stroke();
    }
  }
}

if (typeof customElements !== "undefined" && !customElements.get("course-playground")) {
  customElements.define("course-playground", CoursePlayground);
}
