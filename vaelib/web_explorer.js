/* The kernel-free explorers of the VAE course (see vaelib/web_explorer.py and vaelib/drawing_pad.py).
 *
 * Each block carries its networks as JSON (layer sizes and byte offsets) plus a weights block per
 * network: float16 weights and float32 biases, ReLU between layers. An explorer decodes a code on
 * every move of a slider (or click on a label or the map); the drawing pad turns the reader's
 * strokes into an MNIST-like 28x28 image, encodes it, decodes it and scores it with the ELBO.
 * Every explorer on a page shares this code; it defines window.vaelibExplorer once.
 */
(function () {
  "use strict";
  if (window.vaelibExplorer) return;

  function bytes(b64) {
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  // Typed views on little-endian data (every browser platform in use is little-endian).
  const float32 = (b64) => new Float32Array(bytes(b64).buffer);

  // IEEE half-precision bits -> number, exactly (sign, 5-bit exponent, 10-bit fraction).
  function halfToNumber(bits) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) return sign * fraction * 2 ** -24;          // zero and subnormals
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }

  // A network's weights: an inline block in the page (a notebook's output), or a script file that
  // the book loaded before this code ran (it sets window.vaelibWeights[key]).
  const networks = new Map();  // key -> layers, so a decoder shared by two blocks is read once
  function loadNetwork(spec) {
    if (networks.has(spec.key)) return networks.get(spec.key);
    const inline = document.querySelector(`script.vaelib-weights[data-key="${spec.key}"]`);
    const text = inline ? inline.textContent : (window.vaelibWeights || {})[spec.key];
    if (!text) throw new Error(`the weights ${spec.key} are missing from this page`);
    const view = new DataView(bytes(text.trim()).buffer);
    const layers = spec.layers.map((l) => {
      const weight = new Float32Array(l.rows * l.cols);  // every float16 is exact in float32
      for (let i = 0; i < weight.length; i++) weight[i] = halfToNumber(view.getUint16(l.w + 2 * i, true));
      const bias = new Float32Array(l.rows);
      for (let i = 0; i < l.rows; i++) bias[i] = view.getFloat32(l.b + 4 * i, true);
      return { rows: l.rows, cols: l.cols, weight, bias };
    });
    networks.set(spec.key, layers);
    return layers;
  }

  // h <- relu(W h + b) per layer, no ReLU after the last: the arithmetic of _forward in Python.
  function forward(layers, input) {
    let h = Float64Array.from(input);
    layers.forEach((layer, k) => {
      const out = new Float64Array(layer.rows);
      for (let r = 0; r < layer.rows; r++) {
        let sum = 0;
        const row = r * layer.cols;
        for (let c = 0; c < layer.cols; c++) sum += layer.weight[row + c] * h[c];
        const v = sum + layer.bias[r];
        out[r] = k < layers.length - 1 && v < 0 ? 0 : v;
      }
      h = out;
    });
    return h;
  }

  // code (D numbers) and label -> image (C*H*W numbers in [0, 1]), as DecoderExport.decode.
  function decode(model, code, label) {
    const input = new Float64Array(model.latentDim + model.numClasses);
    for (let i = 0; i < model.latentDim; i++) input[i] = code[i];
    if (model.numClasses) input[model.latentDim + label] = 1;
    const h = forward(model.layers, input);
    const image = new Float32Array(h.length);
    for (let i = 0; i < h.length; i++) image[i] = 1 / (1 + Math.exp(-h[i]));
    return image;
  }

  function draw(canvas, image, shape) {
    const [, height, width] = shape;
    const small = document.createElement("canvas");
    small.width = width;
    small.height = height;
    const ctx = small.getContext("2d");
    const pixels = ctx.createImageData(width, height);
    for (let i = 0; i < width * height; i++) {
      const grey = Math.round(255 * Math.min(1, Math.max(0, image[i])));  // the first channel
      pixels.data.set([grey, grey, grey, 255], 4 * i);
    }
    ctx.putImageData(pixels, 0, 0);
    const big = canvas.getContext("2d");
    big.imageSmoothingEnabled = false;  // show the pixels, as the book's figures do
    big.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  // A polite live region says what changed, once the reader pauses: a slider dragged across its
  // range would otherwise queue dozens of announcements.
  function announcer(region, delay = 250) {
    let timer = null;
    return (text) => {
      if (!region) return;
      clearTimeout(timer);
      timer = setTimeout(() => { region.textContent = text; }, delay);
    };
  }

  // The share of pixels with ink (grey level above one half), in words for the live region.
  function inkText(image) {
    let inked = 0;
    for (let i = 0; i < image.length; i++) if (image[i] > 0.5) inked += 1;
    return `${Math.round(100 * inked / image.length)}% of its pixels inked`;
  }

  const signed2 = (v) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(2);


  // ------------------------------------------------------------------------------------------
  // The drawing pad: strokes -> MNIST-like image -> encoder -> map, sliders, ELBO
  // ------------------------------------------------------------------------------------------

  // Strokes (arrays of [x, y] in pad fractions) -> segments [ax, ay, bx, by]; a lone point is a
  // zero-length segment. The same as _segments in Python.
  function segmentsOf(strokes) {
    const out = [];
    strokes.forEach((stroke) => {
      if (stroke.length === 1) out.push([stroke[0][0], stroke[0][1], stroke[0][0], stroke[0][1]]);
      for (let i = 1; i < stroke.length; i++) out.push([stroke[i - 1][0], stroke[i - 1][1], stroke[i][0], stroke[i][1]]);
    });
    return out;
  }

  // Ink of each pixel from its distance to the nearest segment (pixel units): full within
  // ink_core, fading to zero at ink_edge. Operation for operation the arithmetic of _rasterize.
  function rasterize(segments, c) {
    const n = c.size;
    const ink = new Float64Array(n * n);
    for (let row = 0; row < n; row++) {
      const py = row + 0.5;
      for (let col = 0; col < n; col++) {
        const px = col + 0.5;
        let nearest = Infinity;
        for (const [ax, ay, bx, by] of segments) {
          const dx = bx - ax, dy = by - ay;
          const length2 = dx * dx + dy * dy;
          let t = length2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / length2 : 0;
          t = Math.min(1, Math.max(0, t));
          const ex = px - (ax + t * dx), ey = py - (ay + t * dy);
          nearest = Math.min(nearest, ex * ex + ey * ey);
        }
        ink[row * n + col] = Math.min(1, Math.max(0, (c.ink_edge - Math.sqrt(nearest)) / (c.ink_edge - c.ink_core)));
      }
    }
    return ink;
  }

  // MNIST's preprocessing (preprocess_strokes in Python): the larger side of the drawing spans
  // the 20x20 box, then the ink's centre of mass moves to the centre of the 28x28 field.
  function preprocess(strokes, c) {
    const n = c.size;
    const segments = segmentsOf(strokes);
    if (!segments.length) return new Float64Array(n * n);
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    segments.forEach(([ax, ay, bx, by]) => {
      x0 = Math.min(x0, ax, bx); y0 = Math.min(y0, ay, by);
      x1 = Math.max(x1, ax, bx); y1 = Math.max(y1, ay, by);
    });
    const scale = (c.box - 2) / Math.max(x1 - x0, y1 - y0, c.min_extent);
    const mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
    const boxed = segments.map(([ax, ay, bx, by]) => [
      (ax - mx) * scale + n / 2, (ay - my) * scale + n / 2, (bx - mx) * scale + n / 2, (by - my) * scale + n / 2]);
    const ink = rasterize(boxed, c);
    let total = 0, sx = 0, sy = 0;
    const columns = new Float64Array(n), rows = new Float64Array(n);
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) {
        rows[row] += ink[row * n + col];
      }
    }
    for (let col = 0; col < n; col++) {
      for (let row = 0; row < n; row++) columns[col] += ink[row * n + col];
    }
    for (let i = 0; i < n; i++) { total += rows[i]; sx += columns[i] * (i + 0.5); sy += rows[i] * (i + 0.5); }
    if (!(total > 0)) return new Float64Array(n * n);
    const shiftX = n / 2 - sx / total, shiftY = n / 2 - sy / total;
    return rasterize(boxed.map(([ax, ay, bx, by]) => [ax + shiftX, ay + shiftY, bx + shiftX, by + shiftY]), c);
  }

  const softplus = (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

  // page_elbo in Python: mu, logvar from the encoder; KL in closed form; the reconstruction term
  // averaged over the fixed draws z_s = mu + sigma * eps_s, Bernoulli pixels.
  function score(net, x) {
    const out = forward(net.encoder, x);
    const d = net.latentDim;
    const mu = Array.from(out.slice(0, d)), logvar = Array.from(out.slice(d));
    let kl = 0;
    for (let i = 0; i < d; i++) kl += 0.5 * (mu[i] * mu[i] + Math.exp(logvar[i]) - 1 - logvar[i]);
    let reconstruction = 0;
    for (let s = 0; s < net.samples; s++) {
      const z = new Float64Array(d);
      for (let i = 0; i < d; i++) z[i] = mu[i] + Math.exp(0.5 * logvar[i]) * net.eps[s * d + i];
      const logits = forward(net.decoder, z);
      let logp = 0;
      for (let j = 0; j < logits.length; j++) logp += x[j] * logits[j] - softplus(logits[j]);
      reconstruction += logp / net.samples;
    }
    return { mu, logvar, kl, reconstruction, elbo: reconstruction - kl };
  }

  const signed = (v) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(1);

  function scoreText(result, typical) {
    let text = `ELBO ${signed(result.elbo)} nats = reconstruction ${signed(result.reconstruction)} \u2212 KL ${result.kl.toFixed(1)}.`;
    if (typical) {
      text += ` Test digits binarized the same way: ${signed(typical.mean)} on average, 95% of them above ${signed(typical.q05)}.`;
    }
    return text;
  }

  function mountDrawing(root, data) {
    const pad = root.querySelector("canvas.vaelib-draw-pad");
    const input = root.querySelector("canvas.vaelib-draw-input");
    const binaryCanvas = root.querySelector("canvas.vaelib-draw-binary");
    const shape = [1, data.size, data.size];
    const [lo, hi] = data.range;
    const nets = {};
    Object.entries(data.models).forEach(([name, m]) => {
      nets[name] = {
        latentDim: m.latent_dim, samples: m.samples, eps: float32(m.eps), typical: m.typical,
        encoder: loadNetwork(m.encoder), decoder: loadNetwork(m.decoder),
        section: root.querySelector(`.vaelib-draw-model[data-model="${name}"]`),
      };
    });
    const strokes = [];
    // testDigit: the index of the test digit in use, or null while the reader draws.
    const state = { strokes, code: null, last: null, updates: 0, testDigit: null };
    let current = null, pending = false;
    const say = announcer(root.querySelector(".vaelib-draw-status"));
    const digits = data.test_digits ? bytes(data.test_digits) : null;  // N x 28 x 28 grey levels, 0-255
    const picker = root.querySelector("select.vaelib-draw-digit");
    const nextButton = root.querySelector(".vaelib-draw-next");
    const pixels = data.size * data.size;

    function testImage(k) {
      const image = new Float64Array(pixels);
      for (let i = 0; i < pixels; i++) image[i] = digits[k * pixels + i] / 255;
      return image;
    }

    function paint() {
      if (state.testDigit !== null) {  // the test digit in use, shown where a drawing would be
        draw(pad, testImage(state.testDigit), shape);
        return;
      }
      const ctx = pad.getContext("2d");
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, pad.width, pad.height);
      ctx.strokeStyle = "#fff";
      ctx.fillStyle = "#fff";
      ctx.lineWidth = pad.width / 14;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      strokes.forEach((stroke) => {
        ctx.beginPath();
        stroke.forEach(([x, y], i) => (i ? ctx.lineTo(x * pad.width, y * pad.height) : ctx.moveTo(x * pad.width, y * pad.height)));
        if (stroke.length === 1) ctx.lineTo(stroke[0][0] * pad.width + 0.01, stroke[0][1] * pad.height);
        ctx.stroke();
      });
    }

    function renderLatent() {
      const net = nets.latent;
      if (!net || !state.code) return;
      const image = decode({ latentDim: net.latentDim, numClasses: 0, layers: net.decoder }, state.code, null);
      state.latentImage = image;
      draw(net.section.querySelector("canvas.vaelib-draw-reconstruction"), image, shape);
      net.section.querySelectorAll("input[type=range]").forEach((s) => {
        s.value = state.code[+s.dataset.dim];
        s.nextElementSibling.value = state.code[+s.dataset.dim].toFixed(2);
      });
    }

    // What the live region says after an update: the digit's source and each model's ELBO.
    function summary(empty, results) {
      if (empty) return "The pad is empty: draw a digit or choose a test digit.";
      const source = state.testDigit === null ? "Your drawing"
        : `Test digit ${state.testDigit + 1} of ${data.test_count}`;
      const parts = Object.entries(results).map(([name, r]) => {
        const heading = nets[name].section.querySelector(".vaelib-draw-heading").textContent;
        let text = `${heading}: ELBO ${signed(r.elbo)} nats, reconstruction ${signed(r.reconstruction)}, KL ${r.kl.toFixed(1)}`;
        if (name === "plane") text += `; \u03bc at (${signed2(r.mu[0])}, ${signed2(r.mu[1])}), decoded there`;
        return text + ".";
      });
      return `${source} scored. ${parts.join(" ")}`;
    }

    function update(announce = true) {
      pending = false;
      const image = state.testDigit === null ? preprocess(strokes, data) : testImage(state.testDigit);
      const binary = image.map((v) => (v >= data.threshold ? 1 : 0));
      draw(input, image, shape);
      draw(binaryCanvas, binary, shape);
      const empty = !binary.some((v) => v > 0);
      const results = {};
      Object.entries(nets).forEach(([name, net]) => {
        const text = net.section.querySelector(".vaelib-draw-score");
        const recon = net.section.querySelector("canvas.vaelib-draw-reconstruction");
        if (empty) {
          text.textContent = "Draw a digit in the black square (a mouse, a finger or a pen).";
          draw(recon, new Float32Array(data.size * data.size), shape);
          net.section.querySelectorAll(".vaelib-explorer-marker, .vaelib-draw-ellipse").forEach((e) => { e.style.display = "none"; });
          return;
        }
        const result = score(net, binary);
        results[name] = result;
        text.textContent = scoreText(result, net.typical);
        if (name === "plane") {
          const [left, top, right, bottom] = data.map_box;
          const fx = (result.mu[0] - lo) / (hi - lo), fy = (result.mu[1] - lo) / (hi - lo);
          const clamp = (f) => Math.min(1, Math.max(0, f));
          const x = 100 * (left + clamp(fx) * (right - left)), y = 100 * (bottom - clamp(fy) * (bottom - top));
          const marker = net.section.querySelector(".vaelib-explorer-marker");
          const ellipse = net.section.querySelector(".vaelib-draw-ellipse");
          [marker, ellipse].forEach((e) => { e.style.left = `${x}%`; e.style.top = `${y}%`; e.style.display = "block"; });
          ellipse.style.width = `${100 * 2 * Math.exp(0.5 * result.logvar[0]) / (hi - lo) * (right - left)}%`;
          ellipse.style.height = `${100 * 2 * Math.exp(0.5 * result.logvar[1]) / (hi - lo) * (bottom - top)}%`;
          if (fx < 0 || fx > 1 || fy < 0 || fy > 1) text.textContent += " (\u03bc lies outside the map; the ring sits at its edge.)";
          const reconstruction = decode({ latentDim: 2, numClasses: 0, layers: net.decoder }, result.mu, null);
          draw(recon, reconstruction, shape);
        }
      });
      if (nets.latent) {
        state.code = empty ? null : results.latent.mu.slice();
        renderLatent();
      }
      state.last = { image: Array.from(image), binary: Array.from(binary), results };
      state.updates += 1;
      if (announce) say(summary(empty, results));
      root.dispatchEvent(new CustomEvent("vaelib-explorer-drawn"));
    }

    function schedule() {
      if (!pending) {
        pending = true;
        requestAnimationFrame(() => pending && update());
      }
    }

    function point(event) {
      const box = pad.getBoundingClientRect();
      const clamp = (f) => Math.min(1, Math.max(0, f));
      return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
    }

    // Pointer events cover the mouse, touch and pens; touch-action: none (CSS) keeps a finger
    // from scrolling the page instead of drawing.
    // A test digit is the keyboard's way in (and a quick one for everyone): it takes the place
    // of the drawing and goes through the same scoring as a drawn digit.
    function useTestDigit(k) {
      state.testDigit = k;
      strokes.length = 0;
      current = null;
      if (picker) picker.value = k === null ? "" : String(k);
      paint();
      update();
    }
    if (picker && digits) {
      picker.addEventListener("change", () => useTestDigit(picker.value === "" ? null : +picker.value));
      nextButton.addEventListener("click", () => {
        useTestDigit(state.testDigit === null ? 0 : (state.testDigit + 1) % data.test_count);
      });
    }

    pad.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      try { pad.setPointerCapture(event.pointerId); } catch (e) { /* a synthetic pointer */ }
      if (state.testDigit !== null) {  // drawing starts afresh over a test digit
        state.testDigit = null;
        if (picker) picker.value = "";
      }
      current = [point(event)];
      strokes.push(current);
      paint();
      schedule();
    });
    pad.addEventListener("pointermove", (event) => {
      if (!current) return;
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
      (events.length ? events : [event]).forEach((e) => current.push(point(e)));
      paint();
      schedule();
    });
    const end = () => {
      if (!current) return;
      current = null;
      update();  // at once, not at the next frame: the numbers are final when the stroke ends
    };
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
    root.querySelector(".vaelib-draw-clear").addEventListener("click", () => useTestDigit(null));
    if (nets.latent) {
      nets.latent.section.querySelectorAll("input[type=range]").forEach((s) => s.addEventListener("input", () => {
        if (!state.code) state.code = new Array(nets.latent.latentDim).fill(0);
        state.code[+s.dataset.dim] = parseFloat(s.value);
        renderLatent();
        say(`${s.getAttribute("aria-label")} set to ${signed2(state.code[+s.dataset.dim])}: `
            + `the ${nets.latent.latentDim}-D VAE's image redrawn, ${inkText(state.latentImage)}.`);
      }));
      nets.latent.section.querySelector(".vaelib-draw-to-mu").addEventListener("click", () => {
        if (state.last && state.last.results.latent) state.code = state.last.results.latent.mu.slice();
        renderLatent();
        if (state.code) say(`Back at \u03bc of the digit: the image redrawn, ${inkText(state.latentImage)}.`);
      });
    }
    root.vaelib = {
      state, update, preprocess: (s) => Array.from(preprocess(s, data)),
      score: (name, x) => score(nets[name], x),
    };
    paint();
    update(false);  // the empty pad: nothing to announce yet
  }

  function mount(root) {
    try {
      const data = JSON.parse(root.querySelector("script.vaelib-explorer-data").textContent);
      if (data.kind === "draw") {
        mountDrawing(root, data);
        root.dataset.ready = "1";
        return;
      }
      const model = {
        latentDim: data.latent_dim, numClasses: data.num_classes, layers: loadNetwork(data.decoder),
      };
      const state = { code: data.z0.slice(), label: data.label };
      const canvas = root.querySelector("canvas.vaelib-explorer-canvas");
      const sliders = Array.from(root.querySelectorAll("input[type=range]"));
      const buttons = Array.from(root.querySelectorAll(".vaelib-explorer-labels button"));
      const map = root.querySelector(".vaelib-explorer-map");
      const [lo, hi] = data.range;
      const say = announcer(root.querySelector(".vaelib-explorer-status"));

      // What the live region says: the code the sliders show (and the label), and the new image.
      function summary() {
        const code = sliders.map((s) => `${s.getAttribute("aria-label").replace(/^latent /, "")} `
          + signed2(state.code[+s.dataset.dim])).join(", ");
        const label = model.numClasses ? `digit ${state.label}, ` : "";
        return `Decoded ${label}${code}: the image has ${inkText(state.image)}.`;
      }

      function render(announce = false) {
        state.image = decode(model, state.code, state.label);
        draw(canvas, state.image, data.image_shape);
        sliders.forEach((s) => {
          s.value = state.code[+s.dataset.dim];
          s.nextElementSibling.value = state.code[+s.dataset.dim].toFixed(2);
        });
        buttons.forEach((b) => b.setAttribute("aria-pressed", String(+b.dataset.label === state.label)));
        if (map) {
          const [left, top, right, bottom] = data.plane_box;
          const fx = (state.code[+sliders[0].dataset.dim] - lo) / (hi - lo);
          const fy = (state.code[+sliders[1].dataset.dim] - lo) / (hi - lo);
          const marker = map.querySelector(".vaelib-explorer-marker");
          marker.style.left = `${100 * (left + fx * (right - left))}%`;
          marker.style.top = `${100 * (bottom - fy * (bottom - top))}%`;
        }
        if (announce) say(summary());
        root.dispatchEvent(new CustomEvent("vaelib-explorer-drawn"));
      }

      sliders.forEach((s) => s.addEventListener("input", () => {
        state.code[+s.dataset.dim] = parseFloat(s.value);
        render(true);
      }));
      buttons.forEach((b) => b.addEventListener("click", () => {
        state.label = +b.dataset.label;
        render(true);
      }));
      root.querySelector(".vaelib-explorer-reset").addEventListener("click", () => {
        state.code = data.z0.slice();
        state.label = data.label;
        render(true);
      });
      if (map) {
        map.addEventListener("click", (event) => {
          const [left, top, right, bottom] = data.plane_box;
          const box = map.getBoundingClientRect();
          const fx = ((event.clientX - box.left) / box.width - left) / (right - left);
          const fy = (bottom - (event.clientY - box.top) / box.height) / (bottom - top);
          const clamp = (f) => Math.min(hi, Math.max(lo, lo + f * (hi - lo)));
          state.code[+sliders[0].dataset.dim] = clamp(fx);
          state.code[+sliders[1].dataset.dim] = clamp(fy);
          render(true);
        });
        // The map from the keyboard: arrows move the point by the sliders' step (with Shift, ten
        // steps), Home goes back to the start, Enter or Space decodes where the point is, as a
        // click there would.
        const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
        map.addEventListener("keydown", (event) => {
          if (event.altKey || event.ctrlKey || event.metaKey) return;
          const [dx, dy] = moves[event.key] || [0, 0];
          if (dx || dy) {
            const step = parseFloat(sliders[0].step) * (event.shiftKey ? 10 : 1);
            const move = (k, by) => {
              const d = +sliders[k].dataset.dim;
              state.code[d] = Math.min(hi, Math.max(lo, +(state.code[d] + by * step).toFixed(6)));
            };
            move(0, dx);
            move(1, dy);
          } else if (event.key === "Home") {
            sliders.forEach((s) => { state.code[+s.dataset.dim] = data.z0[+s.dataset.dim]; });
          } else if (event.key !== "Enter" && event.key !== " ") {
            return;
          }
          event.preventDefault();  // no page scrolling under the arrows and Space
          render(true);
        });
      }
      // For the browser tests and the curious: decode any code from the console.
      root.vaelib = {
        decode: (code, label) => decode(model, code, label === undefined ? state.label : label),
        reference: float32(data.reference), state, render,
      };
      render();
      root.dataset.ready = "1";
    } catch (error) {
      root.dataset.ready = "failed";
      const note = document.createElement("p");
      note.className = "vaelib-explorer-error";
      note.textContent = `This explorer could not start (${error}); the figure below shows the same content.`;
      root.prepend(note);
      console.error("vaelib explorer:", error);
    }
  }

  window.vaelibExplorer = { mount, decode };
})();
