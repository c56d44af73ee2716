// The admin's model sidebar starts closed on screens up to 1440 px, so a list has the room for its
// columns; the « button still opens it, and the choice the person makes is kept by Django's own
// nav_sidebar.js (localStorage "django.admin.navSidebarIsOpen"). Runs before that deferred script.
(function () {
  "use strict";
  var key = "django.admin.navSidebarIsOpen";
  try {
    if (window.localStorage.getItem(key) === null && window.innerWidth <= 1440) {
      window.localStorage.setItem(key, "false");
    }
  } catch (e) {
    // Storage refused (private mode): the sidebar opens as Django decides.
  }
})();
