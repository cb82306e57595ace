// Service worker of the Area Omogenea Cremasca newsletter: shows the Web Push notifications
// the server sends (JSON with title, body, url, tag) and opens their page on a tap. Urgent
// alerts also carry requireInteraction (they stay on screen until dismissed) and renotify
// (an update of an alert replaces its notification and still rings).
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { title: event.data ? event.data.text() : "" };
  }
  const title = data.title || "Area Omogenea Cremasca";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || "",
      tag: data.tag || "news",
      lang: data.lang || "it",
      requireInteraction: Boolean(data.requireInteraction),
      renotify: Boolean(data.renotify && data.tag),
      icon: "/push/static/icon-192.png",
      badge: "/push/static/icon-192.png",
      data: { url: data.url || "/" },
    })
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.openWindow(url));
});
