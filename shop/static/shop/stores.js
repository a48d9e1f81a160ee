// "Use my location": the browser's geolocation fills lon/lat and submits the form; if the visitor refuses
// (or the browser cannot tell), the page says so and keeps searching around the picked city.
(function () {
  const button = document.getElementById("use-location");
  const form = document.getElementById("locator-form");
  if (!button || !form) return;
  const status = document.getElementById("location-status");
  const fallback = (why) => {
    status.textContent = `Location not available (${why}): searching around ${form.city.selectedOptions[0].text} instead.`;
    form.lon.value = ""; form.lat.value = ""; form.source.value = "city";
  };
  form.city.addEventListener("change", () => { form.lon.value = ""; form.lat.value = ""; form.source.value = "city"; });
  button.addEventListener("click", () => {
    if (!("geolocation" in navigator)) { fallback("this browser has no geolocation"); return; }
    status.textContent = "Asking the browser for your location…";
    navigator.geolocation.getCurrentPosition((pos) => {
      // Redis's geo index stops at ±85.05° latitude: clamp so a polar visitor still gets an answer.
      form.lat.value = Math.max(-85.05, Math.min(85.05, pos.coords.latitude)).toFixed(5);
      form.lon.value = pos.coords.longitude.toFixed(5);
      form.source.value = "browser";
      form.submit();
    }, (err) => fallback(err.code === 1 ? "permission refused" : err.message || "unknown error"),
    { timeout: 8000, maximumAge: 600000 });
  });
})();
