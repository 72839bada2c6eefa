/* The gate scanner page: enrolment, camera scanning, online scans, and offline mode
 * (bundle kept in localStorage, scans queued with a nonce each, uploaded once the
 * network is back). The decision itself is gate-offline.js; see docs/gates.md. */
"use strict";

(function () {
  const STORE = {
    token: "kippu.gate.token",
    device: "kippu.gate.device",
    bundle: "kippu.gate.bundle",
    queue: "kippu.gate.queue",
    used: "kippu.gate.used",
    lang: "kippu.gate.lang",
  };
  const BUNDLE_EVERY_MS = 5 * 60 * 1000;
  const SYNC_EVERY_MS = 15 * 1000;
  const UPLOAD_BATCH = 500; // MAX_UPLOAD_SCANS of the API

  const TEXT = {
    ja: {
      title: "ゲート", enrol_title: "端末の登録", enrol_code: "登録コード", enrol_button: "登録する",
      ready: "スキャンしてください", direction: "方向", entry: "入場", exit: "退場", ride: "乗り物",
      camera: "カメラを使う", manual: "コードを入力", check: "確認", bundle: "オフライン用データ",
      sync: "今すぐ送信", online: "オンライン", offline: "オフライン", queued: "未送信",
      none: "なし", not_gate: "この登録コードはゲート用ではありません。",
      no_camera: "カメラを使えません。コードを入力してください。", offline_note: "オフライン判定",
      admitted: "入場できます", already_used: "使用済みのチケットです", invalid: "無効なQRコードです",
      cancelled: "キャンセルされたチケットです", not_valid_today: "本日は有効ではありません",
      wrong_facility: "他の施設のチケットです", group_needs_network: "グループコードはオンライン時のみ使えます",
      stale_bundle: "オフライン用データが古いため判定できません", no_bundle: "オフライン用データがありません",
      not_entered: "入場の記録がありません（本日の入場後のみ通れます）",
      already_inside: "入場中です（退場の記録がありません）",
      ride_only: "乗り物専用のチケットです（入場には使えません）",
      too_early: "{slot}の回は{opens}から入場できます", too_late: "{slot}の回の入場は{closes}までです",
      holder: "所有者",
    },
    en: {
      title: "Gate", enrol_title: "Enrol this device", enrol_code: "Enrolment code", enrol_button: "Enrol",
      ready: "Ready to scan", direction: "Direction", entry: "Entry", exit: "Exit", ride: "Ride",
      camera: "Use camera", manual: "Enter code", check: "Check", bundle: "Offline data",
      sync: "Send now", online: "Online", offline: "Offline", queued: "not sent",
      none: "none", not_gate: "This enrolment code is not for a gate.",
      no_camera: "The camera is not available; enter the code instead.", offline_note: "decided offline",
      admitted: "Admitted", already_used: "Ticket already used", invalid: "Invalid QR code",
      cancelled: "Ticket cancelled", not_valid_today: "Not valid today",
      wrong_facility: "Ticket for another facility", group_needs_network: "Group codes need the network",
      stale_bundle: "Offline data is out of date", no_bundle: "No offline data",
      not_entered: "Not entered: no entry today since the last exit",
      already_inside: "Already inside: no exit since the last entry",
      ride_only: "Ride ticket: not valid for entry",
      too_early: "Too early: the {slot} slot admits from {opens}",
      too_late: "Too late: the {slot} slot admitted until {closes}",
      holder: "Holder",
    },
  };

  const $ = (id) => document.getElementById(id);
  const load = (key, fallback) => {
    try { const v = localStorage.getItem(key); return v === null ? fallback : JSON.parse(v); }
    catch (e) { return fallback; }
  };
  const save = (key, value) => localStorage.setItem(key, JSON.stringify(value));

  let lang = load(STORE.lang, navigator.language.startsWith("ja") ? "ja" : "en");
  let syncing = false;
  let lastCode = { token: "", at: 0 };
  const t = (key) => TEXT[lang][key] || key;
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, name) => (values || {})[name] || "");

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = lang === "ja" ? "English" : "日本語";
    showStatus();
  }

  function showStatus() {
    const online = navigator.onLine;
    $("network").textContent = online ? t("online") : t("offline");
    $("network").className = "badge " + (online ? "online" : "offline");
    $("queue").textContent = `${t("queued")}: ${load(STORE.queue, []).length}`;
    const bundle = load(STORE.bundle, null);
    $("bundle").textContent = bundle ? `${bundle.valid_on} (${bundle.tickets.length})` : t("none");
    const device = load(STORE.device, null);
    $("device").textContent = device ? device.name : "";
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { "Authorization": `Bearer ${load(STORE.token, "")}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.detail || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // --- the verdict: colour, words and a beep ------------------------------------------
  let audio = null;
  function beep(admitted) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const tones = admitted ? [[880, 0], [1320, 0.12]] : [[220, 0], [220, 0.25]];
      tones.forEach(([freq, start]) => {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = admitted ? "sine" : "square";
        osc.frequency.value = freq;
        gain.gain.value = 0.2;
        osc.connect(gain).connect(audio.destination);
        osc.start(audio.currentTime + start);
        osc.stop(audio.currentTime + start + (admitted ? 0.1 : 0.2));
      });
    } catch (e) { /* no audio device: the colour still tells */ }
  }

  function showVerdict(result, text, detail, holderName, photoUrl) {
    const admitted = result === "admitted";
    $("result").className = "result " + (admitted ? "admitted" : "refused");
    $("result").dataset.result = result;
    $("result-text").textContent = text;
    $("result-detail").textContent = detail || "";
    showHolder(holderName || "", photoUrl || null);
    beep(admitted);
  }

  // --- a pass holder's name and photo, to compare with the visitor ----------------------
  let shown = 0;
  async function showHolder(name, photoUrl) {
    const mine = ++shown;
    $("holder").textContent = name ? `${t("holder")}: ${name}` : "";
    const img = $("holder-photo");
    if (img.src) URL.revokeObjectURL(img.src);
    img.removeAttribute("src");
    img.hidden = true;
    if (!photoUrl) return;
    try {
      // The photo route wants the device token, which an <img src> cannot send.
      const response = await fetch(photoUrl, { headers: { "Authorization": `Bearer ${load(STORE.token, "")}` } });
      if (!response.ok || mine !== shown) return;
      img.src = URL.createObjectURL(await response.blob());
      img.alt = name;
      img.hidden = false;
    } catch (e) { /* no photo: the name still shows */ }
  }

  // --- scanning -----------------------------------------------------------------------
  async function scan(raw) {
    const token = raw.trim();
    if (!token) return;
    const direction = $("direction").value;
    if (navigator.onLine) {
      try {
        const answer = await api("POST", "/api/v1/gate/scan", { token, direction });
        if (answer.admitted && answer.ticket) remember(answer.ticket.id, direction);
        const ticket = answer.ticket || {};
        showVerdict(answer.result, answer[`message_${lang}`], ticket[`product_name_${lang}`] || "",
          ticket.holder_name, ticket.holder_photo_url);
        return;
      } catch (e) {
        if (e.status !== undefined) { showVerdict("invalid", e.message, ""); return; }
        // No answer at all: the network is gone though the browser has not noticed.
      }
    }
    await scanOffline(token, direction);
  }

  const emptyUsed = () => ({ uses: {}, days: {}, passages: {} });

  /** Count one admitted scan in the offline record: its passage, and its use if it took one. */
  function record(used, ticket, direction, day) {
    used.passages = used.passages || {};
    const last = used.passages[ticket.id] || ticket.last_passage || "";
    if (direction === "entry" || direction === "exit") used.passages[ticket.id] = direction;
    if (!window.KippuOffline.takesUse(ticket, direction, last)) return;
    if (ticket.is_pass) used.days[`${ticket.id}/${direction}/${day}`] = true;
    else used.uses[ticket.id] = (used.uses[ticket.id] || 0) + 1;
  }

  function remember(ticketId, direction) {
    // An online admission counts in the offline record too, so a gate that loses the
    // network right after does not admit the same ticket again.
    const bundle = load(STORE.bundle, null);
    const used = load(STORE.used, emptyUsed());
    const ticket = bundle && bundle.tickets.find((x) => x.id === ticketId);
    if (!ticket) return;
    record(used, ticket, direction, bundle.valid_on);
    save(STORE.used, used);
  }

  async function scanOffline(token, direction) {
    const bundle = load(STORE.bundle, null);
    if (!bundle) { showVerdict("invalid", t("no_bundle"), ""); return; }
    const used = load(STORE.used, emptyUsed());
    const now = new Date();
    const verdict = await window.KippuOffline.decide(bundle, used, token, direction, now);
    save(STORE.used, used);
    const queue = load(STORE.queue, []);
    queue.push({ nonce: crypto.randomUUID(), token, direction, result: verdict.result, scanned_at: now.toISOString() });
    save(STORE.queue, queue);
    const why = TEXT[lang][verdict.reason] ? t(verdict.reason) : "";
    const name = verdict.ticket ? verdict.ticket[`product_name_${lang}`] : "";
    // Offline the holder's name is in the bundle; the photo needs the network.
    const holder = verdict.ticket ? verdict.ticket.holder_name : "";
    showVerdict(verdict.result, fill(t(verdict.result), verdict.texts),
      [why || name, t("offline_note")].filter(Boolean).join(" · "), holder, null);
    showStatus();
  }

  function onCode(token) {
    // A camera sees the same code many times a second: one scan per code and 3 seconds.
    const now = Date.now();
    if (token === lastCode.token && now - lastCode.at < 3000) return;
    lastCode = { token, at: now };
    scan(token);
  }

  async function startCamera() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (e) { showVerdict("invalid", t("no_camera"), ""); return; }
    const video = $("video");
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    // The browser's own detector where there is one (Android Chrome), jsQR elsewhere.
    const detector = "BarcodeDetector" in window ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    const canvas = $("frame");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    const tick = async () => {
      if (video.readyState >= 2) {
        let text = null;
        if (detector) {
          const codes = await detector.detect(video).catch(() => []);
          text = codes.length ? codes[0].rawValue : null;
        } else if (window.jsQR) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          context.drawImage(video, 0, 0);
          const image = context.getImageData(0, 0, canvas.width, canvas.height);
          const code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
          text = code ? code.data : null;
        }
        if (text) onCode(text);
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  // --- bundle and upload ----------------------------------------------------------------
  async function refreshBundle() {
    if (!navigator.onLine) return;
    try {
      const bundle = await api("GET", "/api/v1/gate/offline-bundle");
      const old = load(STORE.bundle, null);
      save(STORE.bundle, bundle);
      // The new list already counts what was uploaded; keep only what is still queued.
      if (!old || old.generated_at !== bundle.generated_at) save(STORE.used, usedByQueue(bundle));
    } catch (e) { /* keep the old bundle */ }
    showStatus();
  }

  function usedByQueue(bundle) {
    const used = emptyUsed();
    for (const scan of load(STORE.queue, [])) {
      if (scan.result !== "admitted") continue;
      const claim = window.KippuOffline.readToken(scan.token);
      const ticket = claim && bundle.tickets.find((x) => x.id === claim.subjectId);
      if (!ticket) continue;
      const day = window.KippuOffline.facilityDate(bundle.timezone, new Date(scan.scanned_at));
      record(used, ticket, scan.direction, day);
    }
    return used;
  }

  async function upload() {
    if (syncing || !navigator.onLine) return;
    syncing = true;
    try {
      let queue = load(STORE.queue, []);
      while (queue.length) {
        const batch = queue.slice(0, UPLOAD_BATCH);
        const answer = await api("POST", "/api/v1/gate/offline-scans", { scans: batch });
        // Recorded and duplicate alike are on the server now; anything else stays queued.
        const done = new Set(answer.scans.map((s) => s.nonce));
        queue = load(STORE.queue, []).filter((s) => !done.has(s.nonce));
        save(STORE.queue, queue);
        if (!batch.some((s) => done.has(s.nonce))) break;
      }
    } catch (e) { /* the queue stays; the next sync sends it again */ }
    syncing = false;
    showStatus();
    await refreshBundle();
  }

  // --- start ------------------------------------------------------------------------------
  async function enrol(event) {
    event.preventDefault();
    $("enrol-error").textContent = "";
    try {
      const answer = await api("POST", "/api/v1/kiosk/enrol", { code: $("enrol-code").value.trim() });
      if (answer.device.kind !== "gate") { $("enrol-error").textContent = t("not_gate"); return; }
      save(STORE.token, answer.token);
      save(STORE.device, answer.device);
      start();
    } catch (e) { $("enrol-error").textContent = e.message; }
  }

  function start() {
    $("enrol").hidden = true;
    $("scanner").hidden = false;
    showStatus();
    refreshBundle().then(upload);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("lang").addEventListener("click", () => { lang = lang === "ja" ? "en" : "ja"; save(STORE.lang, lang); applyLanguage(); });
    $("enrol-form").addEventListener("submit", enrol);
    $("manual-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const field = $("manual");
      scan(field.value);
      field.value = "";
    });
    $("camera").addEventListener("click", startCamera);
    $("sync").addEventListener("click", upload);
    window.addEventListener("online", () => { showStatus(); upload(); });
    window.addEventListener("offline", showStatus);
    setInterval(upload, SYNC_EVERY_MS);
    setInterval(refreshBundle, BUNDLE_EVERY_MS);
    applyLanguage();
    if (load(STORE.token, null)) start();
    else $("enrol").hidden = false;
  });
})();
