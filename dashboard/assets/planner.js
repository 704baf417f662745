/* Client-side map functions of the planner page (dashboard/pages/planner.py).

   The grid layer carries every balance metric in its features' properties; the metric's
   classes, the flag outlines and the selected codes travel in the GeoJSON component's
   `hideout`, so switching the metric or selecting a grid restyles without new geometry. */
window.wangge = Object.assign({}, window.wangge, {
    planner: {
        /* fill by the class of the chosen metric, outline by flag, then by selection */
        style: function (feature, context) {
            const h = (context && context.hideout) || {};
            const s = Object.assign({}, h.style || {});
            const p = feature.properties || {};
            const c = h.classes;
            if (c) {
                const v = p[c.prop];
                if (v === null || v === undefined) {
                    s.fillColor = h.noData;
                } else {
                    let i = 0;
                    while (i + 1 < c.breaks.length && v >= c.breaks[i + 1]) { i++; }
                    s.fillColor = c.colors[i];
                }
            }
            if (p.flag && h.flags && h.flags[p.flag]) { Object.assign(s, h.flags[p.flag]); }
            const sel = h.selected || [];
            const at = sel.indexOf(p.code);
            if (at === 0) { Object.assign(s, h.selectedStyle || {}); }
            else if (at > 0) { Object.assign(s, h.partnerStyle || {}); }
            return s;
        },
        /* a click selects the grid; with Shift (or Ctrl / Cmd) it adds it to the selection */
        click: function (e, ctx) {
            const f = e && e.layer && e.layer.feature;
            if (!f || !f.properties) { return; }
            const o = e.originalEvent || {};
            if (e.layer.bringToFront) { e.layer.bringToFront(); }
            ctx.setProps({
                n_clicks: (ctx.n_clicks || 0) + 1,
                clickData: {code: f.properties.code,
                            shift: !!(o.shiftKey || o.ctrlKey || o.metaKey),
                            t: Date.now()}
            });
        }
    }
});
