/* Wall display (/wall): the map and the KPI tiles first, plotly.js (the two small charts)
   right after.

   plotly.js is 4.6 MB of JavaScript whose evaluation blocks the page for about a second on
   a modest machine. dcc.Graph loads it on mount unless `window.Plotly` is already there,
   and waits for it with `Promise.resolve(window.Plotly || <load the script>)`. On /wall
   only, `window.Plotly` starts as a promise that loads the same script
   (`window._dashPlotlyJSURL`, set by Dash) once the village grids are on the map (or after
   WAIT_MS at the latest); the script then replaces `window.Plotly` with the real library
   and the promise resolves, so the charts draw a moment after the map instead of holding
   it back. Other pages are untouched. */
(function () {
    if (!/\/wall\/?$/.test(window.location.pathname) || window.Plotly) { return; }
    const WAIT_MS = 4000;
    const READY = '.leaflet-wg-villages-pane path.leaflet-interactive';
    const t0 = Date.now();
    window.Plotly = new Promise(function (resolve, reject) {
        const load = function () {
            const url = window._dashPlotlyJSURL;
            if (!url) { setTimeout(load, 50); return; }
            const s = document.createElement('script');
            s.src = url;
            s.async = true;
            s.onload = function () { resolve(window.Plotly); };
            s.onerror = reject;
            document.body.appendChild(s);
        };
        const wait = function () {
            if (document.querySelector(READY) || Date.now() - t0 > WAIT_MS) {
                // let the browser paint the map before the long script evaluation
                window.requestAnimationFrame(function () { setTimeout(load, 0); });
            } else {
                setTimeout(wait, 40);
            }
        };
        wait();
    });
})();
