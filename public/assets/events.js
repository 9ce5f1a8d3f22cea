// "Events near me" on the event list: only where the browser can share a location (the button is
// rendered hidden, so without this script or without geolocation nobody sees a button that does
// nothing). The position is rounded to about 100 m before it leaves the page: enough to sort venues.
(() => {
  const button = document.getElementById("near-me");
  const status = document.getElementById("near-status");
  if (!button || !("geolocation" in navigator)) return;
  button.hidden = false;

  function say(text) {
    if (status) status.textContent = text;
  }

  button.addEventListener("click", () => {
    button.disabled = true;
    say("Finding your location…");
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const lat = position.coords.latitude.toFixed(3);
        const lng = position.coords.longitude.toFixed(3);
        say("Showing events near you…");
        location.assign(`/?near=${encodeURIComponent(`${lat},${lng}`)}`);
      },
      (error) => {
        button.disabled = false;
        say(
          error.code === error.PERMISSION_DENIED
            ? "Location is off for this site. Allow it in your browser to see events near you."
            : "Your location could not be found. Please try again.",
        );
      },
      { enableHighAccuracy: false, timeout: 15000, maximumAge: 600000 },
    );
  });
})();
