/* The service desk section of the analytics dashboard (templates/admin/analytics/dashboard_desk.html):
   its charts (Apache ECharts, static/vendor/echarts/) from the page's json_script
   (#service-desk-data), already translated. A click on a slice or a bar opens the tickets behind
   it where the table beside it links to them. Tooltips are drawn on the canvas (renderMode
   richText): ECharts' HTML tooltips carry inline styles, which the Content-Security-Policy refuses. */
(function () {
  "use strict";

  function category(data, element) {
    var c = data.category;
    // On a narrow screen the names stay in the legend and the counts go inside the slices.
    var narrow = element.clientWidth < 480;
    return {
      animation: false,
      tooltip: { trigger: "item", renderMode: "richText" },
      legend: { type: "scroll", bottom: 0 },
      series: [{
        name: data.labels.tickets,
        type: "pie",
        radius: ["35%", "65%"],
        center: ["50%", "45%"],
        label: narrow ? { position: "inside", formatter: "{c}" } : { formatter: "{b}: {c}" },
        data: c.labels.map(function (label, i) { return { name: label, value: c.counts[i] }; }),
      }],
    };
  }

  function bars(labels, series) {
    return {
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 120, right: 32, top: 40, bottom: 24 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: labels, inverse: true, axisLabel: { width: 110, overflow: "truncate" } },
      series: series,
    };
  }

  function rootCause(data) {
    var r = data.root_cause;
    return bars(r.labels, [{ name: data.labels.tickets, type: "bar", data: r.counts }]);
  }

  function hotSpots(key) {
    return function (data) {
      var h = data[key], l = data.labels;
      return bars(h.labels, [
        { name: l.complaints, type: "bar", data: h.complaints },
        { name: l.tickets, type: "bar", data: h.tickets },
      ]);
    };
  }

  var CHARTS = {
    category: category,
    root_cause: rootCause,
    courses: hotSpots("courses"),
    teachers: hotSpots("teachers"),
  };

  function draw() {
    var source = document.getElementById("service-desk-data");
    if (!source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("[data-desk-chart]").forEach(function (element) {
      var key = element.dataset.deskChart, option = CHARTS[key];
      if (!option || !data[key]) {
        return;
      }
      var drawn = data[key].labels.length === 0 ? null : option(data, element);
      window.dashboardCharts.mount(element, drawn, data[key].urls, data.labels.empty);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
