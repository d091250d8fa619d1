/* The sign-in popup's last page: tell the framed page that opened it, then close. */
"use strict";

(() => {
  const next = document.getElementById("page").dataset.nextUrl || "/pages/runs";
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage({ w365: "signed-in" }, location.origin);
    window.close();
  } else {
    location.replace(next);  // not a popup after all: go where the user was going
  }
})();
