/* A page framed by the Dynamics dialog signs in through a popup (Entra's sign-in refuses frames). */
"use strict";

(() => {
  const button = document.getElementById("signin-popup");
  const status = document.getElementById("signin-status");
  window.addEventListener("message", (event) => {
    if (event.origin !== location.origin || !event.data || event.data.w365 !== "signed-in") return;
    status.textContent = "Signed in. Loading…";
    location.reload();
  });
  button.addEventListener("click", () => {
    const popup = window.open(button.dataset.url, "w365-signin", "width=520,height=680");
    status.textContent = popup ? "Finish signing in in the window that opened."
      : "The sign-in window was blocked: allow pop-ups for this site and press Sign in again.";
  });
})();
