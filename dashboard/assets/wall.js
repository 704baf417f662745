/* Client-side map functions of the wall display (dashboard/pages/wall.py).

   Grid layers keep their geometry; the values they are coloured by (counts, classes per grid
   code) travel in the GeoJSON component's `hideout`, so a refresh restyles the map without
   sending geometry again and without touching the view. */
window.wangge = Object.assign({}, window.wangge, {
    wall: (function () {
        const classOf = function (c, v) {
            let i = 0;
            while (i + 1 < c.breaks.length && v >= c.breaks[i + 1]) { i++; }
            return i;
        };
        const valueOf = function (values, feature) {
            if (!values || !feature.properties) { return null; }
            const v = values[feature.properties.code];
            return (v === undefined) ? null : v;
        };
        return {
            /* polygons: base style, filled by the active theme's class of the grid's value */
            style: function (feature, context) {
                const h = (context && context.hideout) || {};
                const s = Object.assign({}, h.style || {});
                const th = (h.theme && h.themes) ? h.themes[h.theme] : null;
                if (th) {
                    Object.assign(s, th.style || {});
                    const v = valueOf(th.values, feature);
                    if (th.classes && v !== null) {
                        s.fillColor = th.classes.colors[classOf(th.classes, v)];
                    } else if (th.emptyColor) {
                        s.fillColor = th.emptyColor;
                    }
                }
                return s;
            },
            /* points of grids: a circle classed by the grid's count */
            pointToLayer: function (feature, latlng, context) {
                const h = (context && context.hideout) || {};
                const s = Object.assign({}, h.style || {});
                const c = h.classes;
                const v = valueOf(h.values, feature);
                if (c && v !== null) {
                    const i = classOf(c, v);
                    s.fillColor = c.colors[i];
                    if (c.radii) { s.radius = c.radii[i]; }
                }
                if (h.pane) { s.pane = h.pane; }
                s.interactive = false;
                return L.circleMarker(latlng, s);
            },
            /* hidden layers draw nothing; point layers draw only the grids with a count */
            filter: function (feature, context) {
                const h = (context && context.hideout) || {};
                if (h.visible === false) { return false; }
                if (h.values && !h.themes) {
                    const v = valueOf(h.values, feature);
                    return v !== null && v > 0;
                }
                return true;
            }
        };
    })()
});

/* Leaflet maps by container id (window.wanggeMaps['wall-map']): lets tests and tooling read
   the view without depending on dash-leaflet internals. */
(function hook(tries) {
    if (window.L && window.L.Map && window.L.Map.addInitHook) {
        window.wanggeMaps = window.wanggeMaps || {};
        window.L.Map.addInitHook(function () {
            const el = this.getContainer();
            if (el && el.id) { window.wanggeMaps[el.id] = this; }
        });
    } else if (tries < 200) {
        setTimeout(function () { hook(tries + 1); }, 25);
    }
})(0);
