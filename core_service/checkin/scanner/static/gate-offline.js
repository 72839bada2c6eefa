/* The gate's offline decision, without the page: read a K1 token, verify its Ed25519
 * signature with WebCrypto, and decide from the offline bundle (docs/gates.md).
 * It mirrors core_service/checkin/service.py and rules.py (the gate rules); the server
 * re-checks every uploaded scan. */
"use strict";

(function () {
  const PREFIX = "K1.";
  const CLAIM_LEN = 18;
  const SIGNATURE_LEN = 64;
  const BASE64URL = /^[A-Za-z0-9_-]*$/;

  function decodeBase64url(text) {
    // Strict like kippu_contract.tokens: the alphabet only, no padding, and the text
    // must be the canonical spelling of its bytes (one spelling per signed claim).
    if (!BASE64URL.test(text) || text.length % 4 === 1) return null;
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    let binary;
    try { binary = atob(padded); } catch (e) { return null; }
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return encodeBase64url(bytes) === text ? bytes : null;
  }

  function encodeBase64url(bytes) {
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  /** The claim, signed bytes and signature of a token, or null if it is malformed. */
  function readToken(token) {
    if (!token.startsWith(PREFIX)) return null;
    const raw = decodeBase64url(token.slice(PREFIX.length));
    if (raw === null || raw.length !== CLAIM_LEN + SIGNATURE_LEN) return null;
    const view = new DataView(raw.buffer);
    return {
      kind: view.getUint8(0),
      facilityId: view.getUint32(1),
      subjectId: Number(view.getBigUint64(5)),
      secretVersion: view.getUint32(13),
      signed: raw.slice(0, CLAIM_LEN),
      signature: raw.slice(CLAIM_LEN),
    };
  }

  const keys = new Map();

  /** The bundle's public key as a WebCrypto key; null where Ed25519 is not supported. */
  async function importKey(publicKey) {
    if (!keys.has(publicKey)) {
      const raw = decodeBase64url(publicKey);
      keys.set(publicKey, crypto.subtle
        .importKey("raw", raw, { name: "Ed25519" }, false, ["verify"])
        .catch(() => null));
    }
    return keys.get(publicKey);
  }

  /** True or false; null if this browser cannot verify Ed25519 (then the ticket list
   * decides alone). */
  async function verifySignature(bundle, claim) {
    const key = await importKey(bundle.public_key);
    if (key === null) return null;
    return crypto.subtle.verify({ name: "Ed25519" }, key, claim.signature, claim.signed);
  }

  function facilityDate(timezone, moment) {
    // sv-SE writes ISO dates (2026-12-08), the bundle's valid_on form.
    return new Intl.DateTimeFormat("sv-SE", { timeZone: timezone }).format(moment);
  }

  /** The slot's window in minutes of the day [opens, closes], or null (rules.slot_window). */
  function slotWindow(slot, grace) {
    const match = /^(\d{1,2}):(\d{2})$/.exec((slot || "").trim());
    if (!match || Number(match[1]) > 23 || Number(match[2]) > 59) return null;
    const start = Number(match[1]) * 60 + Number(match[2]);
    const g = Math.max(grace || 0, 0);
    return [Math.max(start - g, 0), Math.min(start + g, 23 * 60 + 59)];
  }

  const hhmm = (minutes) => `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;

  /** too_early / too_late for a timed ticket outside its slot's window, else null. */
  function slotRefusal(bundle, ticket, now) {
    if (ticket.kind !== "timed_admission") return null;
    const window = slotWindow(ticket.slot, ticket.slot_grace_minutes);
    if (window === null) return null;
    const local = new Intl.DateTimeFormat("en-GB", {
      timeZone: bundle.timezone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(now);
    const minutes = Number(local.slice(0, 2)) * 60 + Number(local.slice(3, 5));
    const texts = { slot: ticket.slot, opens: hhmm(window[0]), closes: hhmm(window[1]) };
    if (minutes < window[0]) return { result: "too_early", reason: "", ticket, texts };
    if (minutes > window[1]) return { result: "too_late", reason: "", ticket, texts };
    return null;
  }

  /** The ticket's last admitted entry or exit today: this gate's own record, else the
   * server's as of the bundle ("" for neither). */
  const lastPassage = (used, ticket) => used.passages[ticket.id] || ticket.last_passage || "";

  /**
   * Decide a scan offline. `used` is the gate's own record of what it admitted since the
   * bundle was made: {uses: {ticketId: n}, days: {"ticketId/direction/date": true},
   * passages: {ticketId: "entry" | "exit"}}.
   * Returns {result, ticket?, reason}; `result` is a check-in result of the server.
   */
  async function decide(bundle, used, token, direction, now) {
    const claim = readToken(token);
    if (claim === null) return { result: "invalid", reason: "malformed" };
    if (claim.facilityId !== bundle.facility_id) return { result: "wrong_facility", reason: "" };
    const verified = await verifySignature(bundle, claim);
    if (verified === false) return { result: "invalid", reason: "signature" };
    if (claim.kind !== 1) return { result: "invalid", reason: "group_needs_network" };
    const today = facilityDate(bundle.timezone, now);
    if (today !== bundle.valid_on) return { result: "not_valid_today", reason: "stale_bundle" };
    const revoked = bundle.revoked.find((r) => r.ticket_id === claim.subjectId);
    if (revoked && claim.secretVersion < revoked.below_version) {
      return { result: revoked.reason === "cancelled" ? "cancelled" : "invalid", reason: revoked.reason };
    }
    const ticket = bundle.tickets.find((t) => t.id === claim.subjectId);
    if (!ticket) return { result: "not_valid_today", reason: "not_in_bundle" };
    if (ticket.secret_version !== claim.secretVersion) return { result: "invalid", reason: "superseded", ticket };
    used.passages = used.passages || {};
    const inside = lastPassage(used, ticket) === "entry";
    const freeRide = direction === "ride" && ticket.kind === "day_admission" && !ticket.rides_use_ticket;
    if (direction === "exit" || freeRide) {
      if (!inside) return { result: "not_entered", reason: "", ticket };
      if (direction === "exit") used.passages[ticket.id] = "exit";
      return { result: "admitted", reason: direction, ticket };
    }
    if (direction === "entry" && ticket.kind === "coupon_book") return { result: "ride_only", reason: "", ticket };
    if (direction === "entry" && ticket.reentry_after_exit && lastPassage(used, ticket)) {
      if (inside) return { result: "already_inside", reason: "", ticket };
      used.passages[ticket.id] = "entry";
      return { result: "admitted", reason: "reentry", ticket };
    }
    const early = slotRefusal(bundle, ticket, now);
    if (early) return early;
    const admit = () => {
      if (direction === "entry") used.passages[ticket.id] = "entry";
      return { result: "admitted", reason: "", ticket };
    };
    if (ticket.is_pass) {
      const day = `${ticket.id}/${direction}/${today}`;
      if (used.days[day]) return { result: "already_used", reason: "", ticket };
      used.days[day] = true;
      return admit();
    }
    const usesLeft = ticket.uses_left - (used.uses[ticket.id] || 0);
    if (ticket.status !== "valid" || usesLeft <= 0) return { result: "already_used", reason: "", ticket };
    used.uses[ticket.id] = (used.uses[ticket.id] || 0) + 1;
    return admit();
  }

  /** Whether an admitted scan in `direction` took a use (as rules.offline_takes_use). */
  function takesUse(ticket, direction, lastBefore) {
    if (direction === "exit") return false;
    if (direction === "ride") return ticket.kind !== "day_admission" || ticket.rides_use_ticket;
    if (ticket.kind === "coupon_book") return false;
    return !(ticket.reentry_after_exit && lastBefore === "exit");
  }

  window.KippuOffline = { decide, readToken, facilityDate, takesUse };
})();
