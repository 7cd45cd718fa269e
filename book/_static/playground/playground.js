/* The VAE playground (book/playground.md): a small VAE trained on 2-D points in the reader's browser.
 *
 * The same algorithm as vaelib/playground.py, draw for draw and operation for operation, in float64
 * (Float64Array): mulberry32 + Box-Muller for every random number; encoder 2 -> H -> H -> (mu, logvar)
 * and decoder D -> H -> H -> x_hat with tanh; a Gaussian decoder of fixed sigma; the loss
 * distortion + beta * warm-up * rate (free bits optional); gradients by hand; Adam.
 * The browser tests compare this file's numbers with PyTorch's.
 *
 * A classic script with no imports, so the page works from file:// as well as from a server.
 */
(function () {
  "use strict";
  if (window.vaePlayground) return;

  // ------------------------------------------------------------------------------------------
  // Random numbers
  // ------------------------------------------------------------------------------------------

  class Rng {
    constructor(seed) { this.state = seed >>> 0; }
    // mulberry32: a float in [0, 1) with 32 random bits.
    uniform() {
      this.state = (this.state + 0x6D2B79F5) >>> 0;
      const a = this.state;
      let t = Math.imul(a ^ (a >>> 15), a | 1) >>> 0;
      t = (((t + (Math.imul(t ^ (t >>> 7), t | 61) >>> 0)) >>> 0) ^ t) >>> 0;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }
    // Box-Muller, cosine branch only: no state carried between calls (as in Python).
    normal() {
      const u1 = this.uniform(), u2 = this.uniform();
      return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }
  }

  const DATASETS = { eight: "eight Gaussians", moons: "two moons", ring: "a ring" };

  // n points into out (n x 2, row-major); the draws per point in the order sample_data makes them.
  function sampleData(rng, dataset, n, out = new Float64Array(2 * n)) {
    for (let k = 0; k < n; k++) {
      let x, y;
      if (dataset === "eight") {
        const c = Math.min(7, Math.floor(8 * rng.uniform()));
        const angle = 2 * Math.PI * c / 8;
        x = 2 * Math.cos(angle) + 0.1 * rng.normal();
        y = 2 * Math.sin(angle) + 0.1 * rng.normal();
      } else if (dataset === "moons") {
        const lower = rng.uniform() < 0.5;
        const t = Math.PI * rng.uniform();
        const bx = lower ? 1 - Math.cos(t) : Math.cos(t), by = lower ? 0.5 - Math.sin(t) : Math.sin(t);
        x = 1.5 * (bx - 0.5) + 0.1 * rng.normal();
        y = 1.5 * (by - 0.25) + 0.1 * rng.normal();
      } else if (dataset === "ring") {
        const angle = 2 * Math.PI * rng.uniform();
        const radius = 2 + 0.1 * rng.normal();
        x = radius * Math.cos(angle);
        y = radius * Math.sin(angle);
      } else {
        throw new Error(`unknown dataset ${dataset}; use one of ${Object.keys(DATASETS).join(", ")}`);
      }
      out[2 * k] = x;
      out[2 * k + 1] = y;
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // The model: all parameters in one Float64Array, so Adam is one loop
  // ------------------------------------------------------------------------------------------

  const LAYERS = ["enc1", "enc2", "enc3", "dec1", "dec2", "dec3"];

  function layerSizes(latent, hidden) {  // [rows (out), cols (in)] per layer
    return [[hidden, 2], [hidden, hidden], [2 * latent, hidden], [hidden, latent], [hidden, hidden], [2, hidden]];
  }

  function views(flat, sizes) {
    let o = 0;
    return sizes.map(([rows, cols]) => {
      const W = flat.subarray(o, o + rows * cols);
      o += rows * cols;
      const b = flat.subarray(o, o + rows);
      o += rows;
      return { rows, cols, W, b };
    });
  }

  class Model {
    constructor(latent, hidden) {
      this.latent = latent;
      this.hidden = hidden;
      this.sizes = layerSizes(latent, hidden);
      this.size = this.sizes.reduce((n, [r, c]) => n + r * c + r, 0);
      this.theta = new Float64Array(this.size);
      this.layers = views(this.theta, this.sizes);
    }
    // W ~ N(0, 1/fan_in) drawn row by row, layer by layer; b = 0 (init_params in Python).
    init(rng) {
      this.layers.forEach((l) => {
        const scale = 1 / Math.sqrt(l.cols);
        for (let i = 0; i < l.W.length; i++) l.W[i] = rng.normal() * scale;
        l.b.fill(0);
      });
      return this;
    }
  }

  // tanh from one exp, about twice as fast as Math.tanh in V8 (which took a quarter of a step).
  // Near 0, 1 - exp(-2|x|) would lose digits, so small inputs keep Math.tanh; both branches are
  // within a few ulp of PyTorch's tanh, which the tests compare with.
  function tanh(x) {
    const a = Math.abs(x);
    if (a < 0.1) return Math.tanh(x);
    const e = Math.exp(-2 * a), t = (1 - e) / (1 + e);
    return x < 0 ? -t : t;
  }

  // out (B x rows) = act(in (B x cols) W^T + b). Four rows at a time: each input value is loaded
  // once for four sums, which roughly halves the time of a step (the sums' order is unchanged).
  function dense(l, input, out, B, act) {
    const { rows, cols, W, b } = l;
    const r4 = rows - (rows % 4);
    for (let n = 0; n < B; n++) {
      const io = n * cols, oo = n * rows;
      let r = 0;
      for (; r < r4; r += 4) {
        const w0 = r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
        let s0 = b[r], s1 = b[r + 1], s2 = b[r + 2], s3 = b[r + 3];
        for (let c = 0; c < cols; c++) {
          const v = input[io + c];
          s0 += W[w0 + c] * v; s1 += W[w1 + c] * v; s2 += W[w2 + c] * v; s3 += W[w3 + c] * v;
        }
        if (act) { s0 = tanh(s0); s1 = tanh(s1); s2 = tanh(s2); s3 = tanh(s3); }
        out[oo + r] = s0; out[oo + r + 1] = s1; out[oo + r + 2] = s2; out[oo + r + 3] = s3;
      }
      for (; r < rows; r++) {
        let s = b[r];
        const wo = r * cols;
        for (let c = 0; c < cols; c++) s += W[wo + c] * input[io + c];
        out[oo + r] = act ? tanh(s) : s;
      }
    }
  }

  // Backward through out = act(in W^T + b): gOut (B x rows) is dL/d(out); gW, gb accumulate;
  // gIn (B x cols) is written unless null. Four rows at a time, as in dense.
  function denseBack(l, g, input, out, gOut, gIn, B, act) {
    const { rows, cols, W } = l, gW = g.W, gb = g.b;
    const r4 = rows - (rows % 4);
    if (gIn) gIn.fill(0, 0, B * cols);
    const slope = (k) => (act ? gOut[k] * (1 - out[k] * out[k]) : gOut[k]);
    for (let n = 0; n < B; n++) {
      const io = n * cols, oo = n * rows;
      let r = 0;
      for (; r < r4; r += 4) {
        const d0 = slope(oo + r), d1 = slope(oo + r + 1), d2 = slope(oo + r + 2), d3 = slope(oo + r + 3);
        gb[r] += d0; gb[r + 1] += d1; gb[r + 2] += d2; gb[r + 3] += d3;
        const w0 = r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
        for (let c = 0; c < cols; c++) {
          const v = input[io + c];
          gW[w0 + c] += d0 * v; gW[w1 + c] += d1 * v; gW[w2 + c] += d2 * v; gW[w3 + c] += d3 * v;
        }
        if (gIn) {
          for (let c = 0; c < cols; c++) {
            gIn[io + c] += d0 * W[w0 + c] + d1 * W[w1 + c] + d2 * W[w2 + c] + d3 * W[w3 + c];
          }
        }
      }
      for (; r < rows; r++) {
        const d = slope(oo + r);
        gb[r] += d;
        const wo = r * cols;
        for (let c = 0; c < cols; c++) gW[wo + c] += d * input[io + c];
        if (gIn) for (let c = 0; c < cols; c++) gIn[io + c] += d * W[wo + c];
      }
    }
  }

  const LOG_2PI = Math.log(2 * Math.PI);

  // Buffers for a batch of B points, made once per run: a step allocates nothing.
  class Workspace {
    constructor(model, B) {
      const H = model.hidden, D = model.latent;
      const f = (n) => new Float64Array(n);
      Object.assign(this, {
        B, h1: f(B * H), h2: f(B * H), enc: f(B * 2 * D), z: f(B * D), sd: f(B * D),
        c1: f(B * H), c2: f(B * H), xh: f(B * 2),
        gxh: f(B * 2), gc2: f(B * H), gc1: f(B * H), gz: f(B * D), genc: f(B * 2 * D), gh2: f(B * H), gh1: f(B * H),
        klDim: f(D), grad: f(model.size),
      });
      this.g = views(this.grad, model.sizes);
    }
  }

  // encoder: x (B x 2) -> ws.enc (B x 2D: mu then logvar per row)
  function encodeInto(model, x, B, ws) {
    const [e1, e2, e3] = model.layers;
    dense(e1, x, ws.h1, B, true);
    dense(e2, ws.h1, ws.h2, B, true);
    dense(e3, ws.h2, ws.enc, B, false);
  }

  function decodeInto(model, z, B, ws) {
    const [, , , d1, d2, d3] = model.layers;
    dense(d1, z, ws.c1, B, true);
    dense(d2, ws.c1, ws.c2, B, true);
    dense(d3, ws.c2, ws.xh, B, false);
  }

  // The objective of vaelib.playground.objective and its gradient, into ws.grad.
  // s: {beta, sigma, warmup, warmupSteps, freeBits, lambda}; step: 0-based, for the warm-up.
  function lossAndGrads(model, s, x, eps, step, ws) {
    const B = ws.B, D = model.latent, L = model.layers, g = ws.g;
    ws.grad.fill(0);
    encodeInto(model, x, B, ws);
    const klDim = ws.klDim.fill(0);
    for (let n = 0; n < B; n++) {
      for (let i = 0; i < D; i++) {
        const mu = ws.enc[n * 2 * D + i], lv = ws.enc[n * 2 * D + D + i];
        const sd = Math.exp(0.5 * lv);
        ws.sd[n * D + i] = sd;
        ws.z[n * D + i] = mu + sd * eps[n * D + i];
        klDim[i] += 0.5 * (mu * mu + Math.exp(lv) - 1 - lv);
      }
    }
    for (let i = 0; i < D; i++) klDim[i] /= B;
    decodeInto(model, ws.z, B, ws);
    const sigma = s.sigma, inv2 = 1 / (sigma * sigma);
    let sq = 0;
    for (let k = 0; k < 2 * B; k++) {
      const r = x[k] - ws.xh[k];
      sq += r * r;
      ws.gxh[k] = -r * inv2 / B;
    }
    const distortion = 0.5 * sq * inv2 / B + 2 * (Math.log(sigma) + 0.5 * LOG_2PI);
    const weight = s.beta * (s.warmup ? Math.min(1, step / s.warmupSteps) : 1);
    const lambda = s.freeBits ? s.lambda : 0;
    let rate = 0, counted = 0;
    const klScale = new Float64Array(D);  // dL/d(KL_i of one example)
    for (let i = 0; i < D; i++) {
      rate += klDim[i];
      const free = lambda > 0 && klDim[i] < lambda;  // below the floor: no pull to the prior
      counted += free ? lambda : klDim[i];
      klScale[i] = free ? 0 : weight / B;
    }
    const loss = distortion + weight * counted;
    // decoder backward: x_hat -> z
    denseBack(L[5], g[5], ws.c2, ws.xh, ws.gxh, ws.gc2, B, false);
    denseBack(L[4], g[4], ws.c1, ws.c2, ws.gc2, ws.gc1, B, true);
    denseBack(L[3], g[3], ws.z, ws.c1, ws.gc1, ws.gz, B, true);
    // through the reparameterisation and the KL to (mu, logvar)
    for (let n = 0; n < B; n++) {
      for (let i = 0; i < D; i++) {
        const k = n * D + i, mu = ws.enc[n * 2 * D + i], lv = ws.enc[n * 2 * D + D + i];
        ws.genc[n * 2 * D + i] = ws.gz[k] + klScale[i] * mu;
        ws.genc[n * 2 * D + D + i] = ws.gz[k] * eps[k] * 0.5 * ws.sd[k] + klScale[i] * 0.5 * (Math.exp(lv) - 1);
      }
    }
    denseBack(L[2], g[2], ws.h2, ws.enc, ws.genc, ws.gh2, B, false);
    denseBack(L[1], g[1], ws.h1, ws.h2, ws.gh2, ws.gh1, B, true);
    denseBack(L[0], g[0], x, ws.h1, ws.gh1, null, B, true);
    return { loss, rate, distortion, klPerDim: Array.from(klDim) };
  }

  // ------------------------------------------------------------------------------------------
  // Training: seeded streams, Adam, history (Playground in Python)
  // ------------------------------------------------------------------------------------------

  const DEFAULTS = {
    dataset: "eight", latent: 2, beta: 1, sigma: 0.3, lr: 0.003, warmup: false, warmupSteps: 1000,
    freeBits: false, lambda: 0.25, seed: 1, batch: 256, hidden: 32,
  };

  class Trainer {
    constructor(settings) {
      const s = this.settings = Object.assign({}, DEFAULTS, settings);
      if (!(s.dataset in DATASETS)) throw new Error(`unknown dataset ${s.dataset}`);
      if (s.latent !== 1 && s.latent !== 2) throw new Error(`latent size must be 1 or 2, not ${s.latent}`);
      this.model = new Model(s.latent, s.hidden).init(new Rng(s.seed));
      this.dataRng = new Rng(s.seed + 1);
      this.noiseRng = new Rng(s.seed + 2);
      this.ws = new Workspace(this.model, s.batch);
      this.x = new Float64Array(2 * s.batch);
      this.eps = new Float64Array(s.batch * s.latent);
      this.m = new Float64Array(this.model.size);
      this.v = new Float64Array(this.model.size);
      this.step = 0;
      this.history = { loss: [], rate: [], distortion: [] };
    }
    // One Adam step on a fresh batch; the terms are the batch's, before the update.
    train() {
      const s = this.settings;
      sampleData(this.dataRng, s.dataset, s.batch, this.x);
      for (let k = 0; k < this.eps.length; k++) this.eps[k] = this.noiseRng.normal();
      const terms = lossAndGrads(this.model, s, this.x, this.eps, this.step, this.ws);
      this.adam();
      this.step += 1;
      this.history.loss.push(terms.loss);
      this.history.rate.push(terms.rate);
      this.history.distortion.push(terms.distortion);
      this.last = terms;
      return terms;
    }
    adam() {  // adam_step in Python: betas 0.9, 0.999, eps 1e-8
      const t = this.step + 1, lr = this.settings.lr;
      const c1 = 1 - 0.9 ** t, c2 = 1 - 0.999 ** t;
      const { theta } = this.model, grad = this.ws.grad, m = this.m, v = this.v;
      for (let k = 0; k < theta.length; k++) {
        const gk = grad[k];
        m[k] = m[k] * 0.9 + gk * (1 - 0.9);
        v[k] = v[k] * 0.999 + (1 - 0.999) * gk * gk;
        theta[k] -= lr * (m[k] / c1) / (Math.sqrt(v[k] / c2) + 1e-8);
      }
    }
  }

  // Encoder means of points (N x 2) -> {mu (N x D), variance per dim, active count}.
  // The plots' buffers are kept with the model: a redraw then allocates almost nothing.
  function displayWorkspace(model, n) {
    if (!model.display || model.display.B !== n) model.display = new Workspace(model, n);
    return model.display;
  }

  function encoderMeans(model, points, n) {
    const ws = displayWorkspace(model, n);
    encodeInto(model, points, n, ws);
    const D = model.latent, mu = new Float64Array(n * D), variance = [];
    for (let i = 0; i < D; i++) {
      let mean = 0;
      for (let k = 0; k < n; k++) { mu[k * D + i] = ws.enc[k * 2 * D + i]; mean += mu[k * D + i] / n; }
      let v = 0;
      for (let k = 0; k < n; k++) v += (mu[k * D + i] - mean) ** 2 / n;
      variance.push(v);
    }
    // DESIGN section 6: dim i is active when Var_x(E_q[z_i | x]) > 0.01.
    return { mu, variance, active: variance.filter((v) => v > 0.01).length };
  }

  function decoderMeans(model, z, n) {
    const ws = displayWorkspace(model, n);
    decodeInto(model, z, n, ws);
    return ws.xh.slice(0, 2 * n);
  }

  // ------------------------------------------------------------------------------------------
  // The URL hash: the whole experiment, and which controls a lesson shows
  // ------------------------------------------------------------------------------------------

  const CONTROL_GROUPS = ["dataset", "latent", "beta", "sigma", "warmup", "freebits", "lr", "seed", "play"];
  const LEARNING_RATES = [0.0003, 0.001, 0.003, 0.01, 0.03];
  const RANGES = { beta: [0.01, 100], sigma: [0.05, 2], lambda: [0, 1] };

  // Reads what it understands and says what it ignored; missing keys keep their defaults.
  function parseHash(hash) {
    const settings = {}, ignored = [];
    let controls = null;
    const params = new URLSearchParams(hash.replace(/^#/, ""));
    const number = (key, lo, hi) => {
      const v = Number(params.get(key));
      if (params.get(key) === "" || !Number.isFinite(v) || v < lo || v > hi) { ignored.push(key); return undefined; }
      return v;
    };
    const flag = (key) => {
      const v = params.get(key);
      if (v === "1" || v === "on" || v === "true") return true;
      if (v === "0" || v === "off" || v === "false") return false;
      ignored.push(key);
      return undefined;
    };
    for (const key of params.keys()) {
      if (key === "data") {
        if (params.get(key) in DATASETS) settings.dataset = params.get(key); else ignored.push(key);
      } else if (key === "latent") {
        const v = params.get(key);
        if (v === "1" || v === "2") settings.latent = +v; else ignored.push(key);
      } else if (key === "beta" || key === "sigma" || key === "lambda") {
        const v = number(key, ...RANGES[key]);
        if (v !== undefined) settings[key] = v;
      } else if (key === "lr") {
        const v = number(key, 1e-5, 0.1);
        if (v !== undefined) settings.lr = v;
      } else if (key === "seed") {
        const v = number(key, 0, 4294967295);
        if (v !== undefined && Number.isInteger(v)) settings.seed = v; else if (v !== undefined) ignored.push(key);
      } else if (key === "warmup" || key === "freebits") {
        const v = flag(key);
        if (v !== undefined) settings[key === "warmup" ? "warmup" : "freeBits"] = v;
      } else if (key === "controls") {
        controls = params.get(key).split(",").map((c) => c.trim()).filter((c) => CONTROL_GROUPS.includes(c) || c === "none");
      } else {
        ignored.push(key);
      }
    }
    return { settings, controls, ignored };
  }

  const short = (v) => String(+v.toPrecision(3));

  function toHash(s, controls) {
    const parts = [`data=${s.dataset}`, `latent=${s.latent}`, `beta=${short(s.beta)}`, `sigma=${short(s.sigma)}`,
      `warmup=${s.warmup ? 1 : 0}`, `freebits=${s.freeBits ? 1 : 0}`, `lambda=${short(s.lambda)}`,
      `lr=${short(s.lr)}`, `seed=${s.seed}`];
    if (controls) parts.push(`controls=${controls.join(",")}`);
    return "#" + parts.join("&");
  }

  // ------------------------------------------------------------------------------------------
  // Drawing
  // ------------------------------------------------------------------------------------------

  // Okabe-Ito colours, on the white panel in both themes; shapes tell the series apart as well.
  const BLUE = "#0072B2", VERMILLION = "#D55E00", GREEN = "#009E73", GREY = "#6b6b6b", INK = "#1f2328";

  function setupCanvas(canvas) {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    return ctx;
  }

  // All the dots in one path and one fill: a path per dot made a redraw several times slower.
  function dots(ctx, xy, n, sx, sy, extent) {
    const clip = (v) => Math.max(-extent, Math.min(extent, v));
    ctx.beginPath();
    for (let k = 0; k < n; k++) {
      const x = sx(clip(xy[2 * k])), y = sy(clip(xy[2 * k + 1]));
      ctx.moveTo(x + 2, y);
      ctx.arc(x, y, 2, 0, 2 * Math.PI);
    }
    ctx.fill();
  }

  function axes(ctx, W, H, pad, extent, label) {
    ctx.strokeStyle = "#d0d7de";
    ctx.lineWidth = 1;
    ctx.strokeRect(pad, pad, W - 2 * pad, H - 2 * pad);
    ctx.fillStyle = INK;
    ctx.font = "12px sans-serif";
    ctx.fillText(label, pad + 4, pad + 14);
    ctx.fillText(`${-extent}`, pad, H - pad + 14);
    ctx.fillText(`${extent}`, W - pad - 10, H - pad + 14);
  }

  function drawDataPlot(canvas, data, samples, n) {
    const ctx = setupCanvas(canvas), W = canvas.width, H = canvas.height, pad = 20, extent = 3.5;
    const sx = (v) => pad + (v + extent) / (2 * extent) * (W - 2 * pad);
    const sy = (v) => H - pad - (v + extent) / (2 * extent) * (H - 2 * pad);
    axes(ctx, W, H, pad, extent, "data space (x1, x2)");
    ctx.fillStyle = BLUE;
    dots(ctx, data, n, sx, sy, 3.5);
    ctx.strokeStyle = VERMILLION;
    ctx.lineWidth = 1.3;
    ctx.beginPath();
    for (let k = 0; k < n; k++) {  // model: crosses
      const x = sx(samples[2 * k]), y = sy(samples[2 * k + 1]);
      ctx.moveTo(x - 2.5, y - 2.5); ctx.lineTo(x + 2.5, y + 2.5);
      ctx.moveTo(x - 2.5, y + 2.5); ctx.lineTo(x + 2.5, y - 2.5);
    }
    ctx.stroke();
  }

  function drawLatentPlot(canvas, mu, n, D) {
    const ctx = setupCanvas(canvas), W = canvas.width, H = canvas.height, pad = 20, extent = 4;
    const sx = (v) => pad + (v + extent) / (2 * extent) * (W - 2 * pad);
    if (D === 2) {
      const sy = (v) => H - pad - (v + extent) / (2 * extent) * (H - 2 * pad);
      axes(ctx, W, H, pad, extent, "latent plane (z1, z2)");
      ctx.strokeStyle = GREY;
      ctx.setLineDash([4, 4]);
      [1, 2, 3].forEach((r) => {  // the prior N(0, I): circles at 1, 2 and 3 standard deviations
        ctx.beginPath();
        ctx.ellipse(sx(0), sy(0), sx(r) - sx(0), sy(0) - sy(r), 0, 0, 2 * Math.PI);
        ctx.stroke();
      });
      ctx.setLineDash([]);
      ctx.fillStyle = GREEN;
      dots(ctx, mu, n, sx, sy, extent);
      return;
    }
    // One latent dim: a histogram of the means against the prior's density.
    axes(ctx, W, H, pad, extent, "latent line z1: histogram of means");
    const bins = 40, counts = new Float64Array(bins), width = 2 * extent / bins;
    for (let k = 0; k < n; k++) {
      const b = Math.floor((Math.max(-extent, Math.min(extent - 1e-9, mu[k])) + extent) / width);
      counts[b] += 1 / (n * width);  // a density, comparable with the prior's
    }
    const top = Math.max(0.6, ...counts), base = H - pad, scale = (H - 2 * pad - 20) / top;
    ctx.fillStyle = GREEN;
    for (let b = 0; b < bins; b++) {
      const x0 = sx(-extent + b * width), x1 = sx(-extent + (b + 1) * width);
      ctx.fillRect(x0, base - counts[b] * scale, Math.max(1, x1 - x0 - 1), counts[b] * scale);
    }
    ctx.strokeStyle = INK;
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    for (let i = 0; i <= 200; i++) {
      const z = -extent + 2 * extent * i / 200, p = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
      if (i) ctx.lineTo(sx(z), base - p * scale); else ctx.moveTo(sx(z), base - p * scale);
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  // Rate (solid) and distortion (dashed) against steps; each pixel column shows the mean of its steps.
  function drawCurves(canvas, history) {
    const ctx = setupCanvas(canvas), W = canvas.width, H = canvas.height, left = 44, pad = 16;
    const n = history.rate.length;
    ctx.fillStyle = INK;
    ctx.font = "12px sans-serif";
    if (!n) { ctx.fillText("no steps yet", left, H / 2); return; }
    const columns = Math.min(n, W - left - pad);
    const series = [history.rate, history.distortion].map((values) => {
      const out = new Float64Array(columns);
      for (let c = 0; c < columns; c++) {
        const a = Math.floor(c * n / columns), b = Math.max(a + 1, Math.floor((c + 1) * n / columns));
        let sum = 0;
        for (let k = a; k < b; k++) sum += values[k];
        out[c] = sum / (b - a);
      }
      return out;
    });
    // The first steps' distortion can be far above the rest: the range skips the first tenth.
    let lo = Infinity, hi = -Infinity;
    series.forEach((s) => s.forEach((v, c) => {
      lo = Math.min(lo, v);
      if (c >= columns / 10 || columns < 10) hi = Math.max(hi, v);
    }));
    if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; }
    hi += 0.05 * (hi - lo);  // headroom, so a flat curve does not run along the frame
    const sx = (c) => left + (columns > 1 ? c / (columns - 1) : 0) * (W - left - pad);
    const sy = (v) => H - pad - (Math.min(v, hi) - lo) / (hi - lo) * (H - 2 * pad);
    ctx.strokeStyle = "#d0d7de";
    ctx.strokeRect(left, pad, W - left - pad, H - 2 * pad);
    ctx.fillText(hi.toFixed(1), 2, pad + 10);
    ctx.fillText(lo.toFixed(1), 2, H - pad);
    ctx.fillText(`step ${n}`, W - pad - 70, H - 2);
    ctx.fillText("nats", 2, H / 2);
    if (lo < 0 && hi > 0) {
      ctx.beginPath();
      ctx.moveTo(left, sy(0)); ctx.lineTo(W - pad, sy(0));
      ctx.stroke();
    }
    [[series[0], BLUE, []], [series[1], VERMILLION, [6, 4]]].forEach(([s, colour, dash]) => {
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.setLineDash(dash);
      ctx.beginPath();
      s.forEach((v, c) => (c ? ctx.lineTo(sx(c), sy(v)) : ctx.moveTo(sx(c), sy(v))));
      ctx.stroke();
    });
    ctx.setLineDash([]);
  }

  // ------------------------------------------------------------------------------------------
  // The page: controls, the training loop, the live region
  // ------------------------------------------------------------------------------------------

  const DISPLAY = 512;  // points in the plots
  const FRAME_MS = 15;  // training per animation frame (about 16.7 ms), less the last redraw's time in a frame that redraws
  const DRAW_EVERY_MS = 100;   // plots redraw at most ten times a second ...
  const CALM_DRAW_EVERY_MS = 1000;  // ... or once a second when the reader asks for reduced motion
  const calm = () => window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  const signed = (v, digits = 2) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(digits);

  function mount(root) {
    const q = (sel) => root.querySelector(sel);
    const uid = root.id || "vae-playground";
    root.innerHTML = `
      <div class="vae-pg-controls" role="group" aria-label="Experiment settings">
        <div class="vae-pg-group" data-control="dataset"><label for="${uid}-dataset">Data</label>
          <select id="${uid}-dataset">${Object.entries(DATASETS).map(([k, v]) => `<option value="${k}">${v}</option>`).join("")}</select></div>
        <div class="vae-pg-group" data-control="latent"><label for="${uid}-latent">Latent size</label>
          <select id="${uid}-latent"><option value="1">1</option><option value="2">2</option></select></div>
        <div class="vae-pg-group" data-control="beta"><label for="${uid}-beta">β (weight of the rate)</label>
          <input type="range" id="${uid}-beta" min="-2" max="2" step="0.05"><output for="${uid}-beta"></output></div>
        <div class="vae-pg-group" data-control="sigma"><label for="${uid}-sigma">Decoder σ</label>
          <input type="range" id="${uid}-sigma" min="${Math.log10(RANGES.sigma[0])}" max="${Math.log10(RANGES.sigma[1])}" step="0.05"><output for="${uid}-sigma"></output></div>
        <div class="vae-pg-group" data-control="warmup"><input type="checkbox" id="${uid}-warmup">
          <label for="${uid}-warmup">KL warm-up (β ramps up from 0 over the first 1000 steps)</label></div>
        <div class="vae-pg-group" data-control="freebits"><input type="checkbox" id="${uid}-freebits">
          <label for="${uid}-freebits">Free bits</label>
          <label for="${uid}-lambda">λ (nats per latent dim)</label>
          <input type="range" id="${uid}-lambda" min="0" max="1" step="0.05"><output for="${uid}-lambda"></output></div>
        <div class="vae-pg-group" data-control="lr"><label for="${uid}-lr">Learning rate</label>
          <select id="${uid}-lr">${LEARNING_RATES.map((v) => `<option value="${v}">${v}</option>`).join("")}</select></div>
        <div class="vae-pg-group" data-control="seed"><label for="${uid}-seed">Seed</label>
          <input type="number" id="${uid}-seed" min="0" max="4294967295" step="1" inputmode="numeric"></div>
        <div class="vae-pg-group vae-pg-buttons" data-control="play">
          <button type="button" class="vae-pg-play">Play</button>
          <button type="button" class="vae-pg-step">Step</button>
          <button type="button" class="vae-pg-reset">Reset</button></div>
      </div>
      <p class="vae-pg-readout"></p>
      <div class="vae-pg-plots">
        <figure><canvas class="vae-pg-data" width="320" height="320" role="img"></canvas>
          <figcaption>Data (blue dots) and the model (orange crosses: the decoder's mean at 512 draws from the prior).</figcaption></figure>
        <figure><canvas class="vae-pg-latent" width="320" height="320" role="img"></canvas>
          <figcaption>The aggregate posterior: encoder means of the same 512 data points (green), and the prior N(0, I) (dashed).</figcaption></figure>
        <figure class="vae-pg-wide"><canvas class="vae-pg-curves" width="660" height="200" role="img"></canvas>
          <figcaption>Rate (KL, blue, solid) and distortion (reconstruction NLL, orange, dashed), nats per point, per step.</figcaption></figure>
      </div>
      <p class="vae-pg-status" role="status" aria-live="polite"></p>
      <p class="vae-pg-hidden-note" hidden>Some controls are hidden for this lesson; <a href="#">show all controls</a>.</p>`;

    const el = {
      dataset: q(`#${uid}-dataset`), latent: q(`#${uid}-latent`), beta: q(`#${uid}-beta`), sigma: q(`#${uid}-sigma`),
      warmup: q(`#${uid}-warmup`), freeBits: q(`#${uid}-freebits`), lambda: q(`#${uid}-lambda`), lr: q(`#${uid}-lr`),
      seed: q(`#${uid}-seed`), play: q(".vae-pg-play"), step: q(".vae-pg-step"), reset: q(".vae-pg-reset"),
      readout: q(".vae-pg-readout"), status: q(".vae-pg-status"), dataCanvas: q(".vae-pg-data"),
      latentCanvas: q(".vae-pg-latent"), curves: q(".vae-pg-curves"), hiddenNote: q(".vae-pg-hidden-note"),
    };

    const state = {
      settings: Object.assign({}, DEFAULTS), controls: null, trainer: null, playing: false,
      lastDraw: -Infinity, drawMs: 4, lastActive: null, display: null, stats: null,
      speed: { steps: 0, since: 0, value: 0 },
    };

    function showControls() {
      root.querySelectorAll(".vae-pg-group").forEach((g) => {
        g.hidden = Boolean(state.controls) && !state.controls.includes(g.dataset.control);
      });
      el.hiddenNote.hidden = !state.controls;
    }

    function syncControls() {
      const s = state.settings;
      el.dataset.value = s.dataset;
      el.latent.value = String(s.latent);
      el.beta.value = Math.log10(s.beta);
      el.sigma.value = Math.log10(s.sigma);
      el.lambda.value = s.lambda;
      el.warmup.checked = s.warmup;
      el.freeBits.checked = s.freeBits;
      el.lambda.disabled = !s.freeBits;
      if (!LEARNING_RATES.includes(s.lr)) {  // a rate from a link that the list lacks
        el.lr.insertAdjacentHTML("beforeend", `<option value="${s.lr}">${s.lr}</option>`);
      }
      el.lr.value = String(s.lr);
      el.seed.value = String(s.seed);
      const outputs = [[el.beta, `β = ${short(s.beta)}`], [el.sigma, `σ = ${short(s.sigma)}`],
        [el.lambda, `λ = ${s.lambda.toFixed(2)} nats`]];
      outputs.forEach(([input, text]) => {
        input.nextElementSibling.value = text;
        input.setAttribute("aria-valuetext", text);
      });
    }

    function writeHash() {
      try {
        history.replaceState(null, "", toHash(state.settings, state.controls));
      } catch (e) { /* some file:// setups refuse; the page still works */ }
    }

    // Fixed points for the plots, from their own stream: drawing never changes training.
    function makeDisplay() {
      const s = state.settings, rng = new Rng(s.seed + 3);
      const data = sampleData(rng, s.dataset, DISPLAY);
      const z = new Float64Array(DISPLAY * s.latent);
      for (let k = 0; k < z.length; k++) z[k] = rng.normal();
      state.display = { data, z };
    }

    function reset(announce = true) {
      pause(false);
      state.trainer = new Trainer(state.settings);
      makeDisplay();
      state.lastActive = null;
      redraw();
      if (announce) say(`Reset: a new model with seed ${state.settings.seed}. ${summary()}`);
    }

    function measure() {
      const t = state.trainer, d = state.display;
      const enc = encoderMeans(t.model, d.data, DISPLAY);
      const samples = decoderMeans(t.model, d.z, DISPLAY);
      state.stats = { enc, samples };
      return state.stats;
    }

    function summary() {
      const t = state.trainer, { enc } = state.stats || measure();
      const D = t.settings.latent;
      if (!t.step) return `Step 0: ${enc.active} of ${D} latent dims active.`;
      const last = t.last;
      return `Step ${t.step}: rate ${signed(last.rate)} nats, distortion ${signed(last.distortion)} nats, `
        + `${enc.active} of ${D} latent dims active.`;
    }

    function redraw() {
      const t = state.trainer, d = state.display, { enc, samples } = measure();
      const D = t.settings.latent;
      drawDataPlot(el.dataCanvas, d.data, samples, DISPLAY);
      drawLatentPlot(el.latentCanvas, enc.mu, DISPLAY, D);
      drawCurves(el.curves, t.history);
      const vars = enc.variance.map((v, i) => `z${i + 1} ${v.toFixed(3)}`).join(", ");
      const speed = state.playing && state.speed.value ? `; ${Math.round(state.speed.value)} steps/s` : "";
      el.readout.textContent = t.step
        ? `Step ${t.step}: rate ${signed(t.last.rate)} nats, distortion ${signed(t.last.distortion)} nats, `
          + `${enc.active} of ${D} latent dims active (variance of the encoder mean: ${vars})${speed}.`
        : `Step 0: ${enc.active} of ${D} latent dims active (variance of the encoder mean: ${vars}). Press Play or Step.`;
      el.dataCanvas.setAttribute("aria-label", `Data space: 512 data points and 512 model samples, ${DATASETS[t.settings.dataset]}, after ${t.step} steps.`);
      el.latentCanvas.setAttribute("aria-label", `Latent space: encoder means of 512 points, ${enc.active} of ${D} dims active, `
        + `variance of the means ${vars}.`);
      el.curves.setAttribute("aria-label", t.step ? `Rate and distortion over ${t.step} steps; now rate ${signed(t.last.rate)}, distortion ${signed(t.last.distortion)} nats.`
        : "Rate and distortion: no steps yet.");
      if (state.playing && state.lastActive !== null && enc.active !== state.lastActive) {
        say(`${enc.active} of ${D} latent dims active now. ${summary()}`);  // collapse, or a dim waking up
      }
      state.lastActive = enc.active;
      root.dispatchEvent(new CustomEvent("vae-playground-drawn"));
    }

    // The live region speaks when the reader acts (play, pause, step, reset, a setting) and when
    // the number of active dims changes, never on every frame.
    let sayTimer = null;
    function say(text) {
      clearTimeout(sayTimer);
      sayTimer = setTimeout(() => { el.status.textContent = text; }, 150);
    }

    function frame(now) {
      if (!state.playing) return;
      const t = state.trainer, start = performance.now();
      const drawDue = now - state.lastDraw >= (calm() ? CALM_DRAW_EVERY_MS : DRAW_EVERY_MS);
      const budget = Math.max(4, FRAME_MS - (drawDue ? state.drawMs : 0));
      let n = 0;
      do { t.train(); n += 1; } while (performance.now() - start < budget);
      const sp = state.speed;
      sp.steps += n;
      const elapsed = performance.now() - sp.since;
      if (elapsed > 1000) { sp.value = 1000 * sp.steps / elapsed; sp.steps = 0; sp.since = performance.now(); }
      if (drawDue) {
        const drawStart = performance.now();
        state.lastDraw = now;
        redraw();
        state.drawMs = 0.8 * state.drawMs + 0.2 * (performance.now() - drawStart);  // smoothed
      }
      requestAnimationFrame(frame);
    }

    function play() {
      if (state.playing) return;
      state.playing = true;
      state.speed = { steps: 0, since: performance.now(), value: state.speed.value };
      el.play.textContent = "Pause";
      el.play.setAttribute("aria-label", "Pause training");
      say("Training.");
      requestAnimationFrame(frame);
    }

    function pause(announce = true) {
      if (!state.playing) return;
      state.playing = false;
      el.play.textContent = "Play";
      el.play.setAttribute("aria-label", "Play: train continuously");
      redraw();
      if (announce) say(`Paused. ${summary()}`);
    }

    function stepOnce() {
      pause(false);
      state.trainer.train();
      redraw();
      say(summary());
    }

    function describeSetting(key, value) {
      if (key === "warmup") return `KL warm-up ${value ? "on" : "off"}`;
      if (key === "freeBits") return `Free bits ${value ? "on" : "off"}`;
      const names = { beta: "β", sigma: "Decoder σ", lambda: "λ", lr: "Learning rate" };
      return `${names[key]} set to ${short(value)}`;
    }

    // Settings that shape the model or the data start a new run; the others act on the running one,
    // so raising β mid-run shows a collapse as it happens.
    function change(key, value) {
      state.settings[key] = value;
      syncControls();
      writeHash();
      if (["dataset", "latent", "seed"].includes(key)) {
        reset();
      } else {
        state.trainer.settings[key] = value;
        say(`${describeSetting(key, value)}; from the next step on. ${summary()}`);
      }
    }

    el.dataset.addEventListener("change", () => change("dataset", el.dataset.value));
    el.latent.addEventListener("change", () => change("latent", +el.latent.value));
    el.beta.addEventListener("input", () => change("beta", +(10 ** +el.beta.value).toPrecision(3)));
    el.sigma.addEventListener("input", () => change("sigma", +(10 ** +el.sigma.value).toPrecision(3)));
    el.lambda.addEventListener("input", () => change("lambda", +el.lambda.value));
    el.warmup.addEventListener("change", () => change("warmup", el.warmup.checked));
    el.freeBits.addEventListener("change", () => change("freeBits", el.freeBits.checked));
    el.lr.addEventListener("change", () => change("lr", +el.lr.value));
    el.seed.addEventListener("change", () => {
      const v = Number(el.seed.value);
      if (Number.isInteger(v) && v >= 0 && v <= 4294967295) change("seed", v);
      else { el.seed.value = String(state.settings.seed); say("The seed must be a whole number from 0 to 4294967295."); }
    });
    el.play.addEventListener("click", () => (state.playing ? pause() : play()));
    el.step.addEventListener("click", stepOnce);
    el.reset.addEventListener("click", () => reset());
    el.hiddenNote.querySelector("a").addEventListener("click", (event) => {
      event.preventDefault();
      state.controls = null;
      showControls();
      writeHash();
    });

    function applyHash(announce = true) {
      const { settings, controls, ignored } = parseHash(location.hash);
      state.settings = Object.assign({}, DEFAULTS, settings);
      state.controls = controls;
      if (ignored.length) console.warn(`VAE playground: ignored ${ignored.join(", ")} in the link`);
      syncControls();
      showControls();
      reset(announce);
    }
    window.addEventListener("hashchange", () => applyHash());
    el.play.setAttribute("aria-label", "Play: train continuously");

    root.playground = { state, play, pause, step: stepOnce, reset, redraw, change, applyHash, summary };
    // Nothing is announced on load: the live region speaks once the reader acts.
    if (location.hash.includes("=")) applyHash(false);
    else { syncControls(); showControls(); reset(false); }
    root.dataset.ready = "1";
  }

  window.vaePlayground = {
    Rng, sampleData, Model, Trainer, Workspace, lossAndGrads, encoderMeans, decoderMeans, parseHash, toHash,
    DEFAULTS, LAYERS, mount,
  };

  function start() {
    document.querySelectorAll(".vae-playground").forEach((root) => {
      try { mount(root); } catch (error) {
        root.dataset.ready = "failed";
        root.textContent = `The playground could not start (${error}).`;
        console.error("VAE playground:", error);
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
