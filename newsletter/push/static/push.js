// "Ricevi le notifiche": shown only where Web Push works; asks permission only on a click.
// The choice: topics, a comune, all its news, its urgent alerts (these need the comune).
"use strict";

(function () {
  const box = document.getElementById("push-control");
  if (!box) return;
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  const ios = /iPad|iPhone|iPod/.test(navigator.userAgent);
  const standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  if (ios && !standalone) {
    const hint = document.getElementById("push-ios-hint");
    if (hint) hint.hidden = false;
  }
  if (!supported) return;

  const form = box.querySelector("form");
  const status = box.querySelector("[data-push-status]");
  const stop = box.querySelector("[data-push-stop]");
  const csrf = document.querySelector('meta[name="csrf-token"]');
  const headers = { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.content : "" };
  const saved = "newsletter-push-choice";

  function say(text) {
    status.textContent = text;
  }

  function b64ToBytes(value) {
    const padded = (value + "===".slice((value.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function choice() {
    const topics = Array.from(form.querySelectorAll('input[name="push-topics"]:checked')).map((i) => i.value);
    const place = form.querySelector('select[name="push-municipality"]');
    const local = form.querySelector('input[name="push-local-news"]');
    const alerts = form.querySelector('input[name="push-alerts"]');
    return {
      topics: topics,
      municipality: place && place.value ? place.value : null,
      local_news: Boolean(local && local.checked),
      alerts: Boolean(alerts && alerts.checked),
      locale: document.documentElement.lang || "it",
    };
  }

  function show(current) {
    if (!current) return;
    form.querySelectorAll('input[name="push-topics"]').forEach((input) => {
      input.checked = current.topics.indexOf(input.value) !== -1;
    });
    const place = form.querySelector('select[name="push-municipality"]');
    if (place && current.municipality) place.value = current.municipality;
    const local = form.querySelector('input[name="push-local-news"]');
    if (local) local.checked = Boolean(current.local_news);
    const alerts = form.querySelector('input[name="push-alerts"]');
    if (alerts) alerts.checked = Boolean(current.alerts);
  }

  async function registration() {
    return navigator.serviceWorker.register("/sw.js", { scope: "/" });
  }

  async function refresh() {
    const reg = await navigator.serviceWorker.getRegistration("/");
    const sub = reg ? await reg.pushManager.getSubscription() : null;
    const current = JSON.parse(localStorage.getItem(saved) || "null");
    if (sub && current) {
      show(current);
      say(box.dataset.textOn);
      stop.hidden = false;
    } else {
      say(box.dataset.textOff);
      stop.hidden = true;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const wanted = choice();
    if (wanted.alerts && !wanted.municipality) {
      say(box.dataset.textComune);
      return;
    }
    if (!wanted.topics.length && !wanted.local_news && !wanted.alerts) {
      say(box.dataset.textChoose);
      return;
    }
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      say(box.dataset.textDenied);
      return;
    }
    try {
      const reg = await registration();
      await navigator.serviceWorker.ready;
      let sub = await reg.pushManager.getSubscription();
      if (!sub) {
        const key = await (await fetch("/push/key")).json();
        sub = await reg.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: b64ToBytes(key.public_key),
        });
      }
      const answer = await fetch("/push/subscriptions", {
        method: "POST",
        headers: headers,
        body: JSON.stringify(Object.assign({ subscription: sub.toJSON() }, wanted)),
      });
      if (!answer.ok) throw new Error((await answer.json()).error || answer.status);
      localStorage.setItem(saved, JSON.stringify(wanted));
      await refresh();
    } catch (error) {
      say(box.dataset.textError + " " + error.message);
    }
  });

  stop.addEventListener("click", async () => {
    const reg = await navigator.serviceWorker.getRegistration("/");
    const sub = reg ? await reg.pushManager.getSubscription() : null;
    if (sub) {
      const json = sub.toJSON();
      await fetch("/push/subscriptions", {
        method: "DELETE",
        headers: headers,
        body: JSON.stringify({ endpoint: json.endpoint, auth: json.keys.auth }),
      });
      await sub.unsubscribe();
    }
    localStorage.removeItem(saved);
    await refresh();
  });

  box.hidden = false;
  refresh();
})();
