/* The refund analytics dashboard's charts (Apache ECharts, static/vendor/echarts/).

   The figures come from the page's json_script (#analytics-data), already translated; a click on
   a bar, a point or a slice opens the refund requests behind it (the same links as the tables
   beside the charts). Tooltips are drawn on the canvas (renderMode richText): ECharts' HTML
   tooltips carry inline style attributes, which the Content-Security-Policy refuses. */
(function () {
  "use strict";

  function number(value) {
    return value === null || value === undefined ? null : Number(value);
  }

  function base(data) {
    return {
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 56, right: 56, top: 40, bottom: 48 },
    };
  }

  function series(data) {
    var s = data.series, l = data.labels;
    return Object.assign(base(data), {
      xAxis: { type: "category", data: s.buckets },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: l.applications, type: "line", data: s.applications, symbolSize: 7 },
        { name: l.approved, type: "bar", data: s.approved },
        { name: l.rejected, type: "bar", data: s.rejected },
      ],
    });
  }

  function money(data) {
    var s = data.series, l = data.labels;
    return Object.assign(base(data), {
      xAxis: { type: "category", data: s.buckets },
      yAxis: { type: "value" },
      series: [
        { name: l.revenue, type: "bar", data: s.revenue.map(number) },
        { name: l.refunded, type: "line", data: s.refunded.map(number), symbolSize: 7 },
      ],
    });
  }

  function dimension(data) {
    var d = data.dimension, l = data.labels;
    return Object.assign(base(data), {
      grid: { left: 120, right: 56, top: 40, bottom: 32 },
      xAxis: [{ type: "value", minInterval: 1 }, { type: "value", position: "top", axisLabel: { formatter: "{value}%" }, splitLine: { show: false } }],
      yAxis: { type: "category", data: d.labels, inverse: true, axisLabel: { width: 110, overflow: "truncate" } },
      series: [
        { name: l.applications, type: "bar", data: d.applications },
        { name: l.ratio, type: "bar", xAxisIndex: 1, data: d.ratio.map(number) },
      ],
    });
  }

  function reasons(data) {
    var r = data.reasons;
    return {
      animation: false,
      tooltip: { trigger: "item", renderMode: "richText" },
      legend: { type: "scroll", bottom: 0 },
      series: [{
        name: data.labels.applications,
        type: "pie",
        radius: ["35%", "65%"],
        center: ["50%", "45%"],
        label: { formatter: "{b}: {d}%" },
        data: r.labels.map(function (label, i) { return { name: label, value: r.counts[i] }; }),
      }],
    };
  }

  var CHARTS = {
    series: { option: series, urls: function (d) { return d.series.urls; }, size: function (d) { return d.series.buckets.length; } },
    money: { option: money, urls: function (d) { return d.series.urls; }, size: function (d) { return d.series.buckets.length; } },
    dimension: { option: dimension, urls: function (d) { return d.dimension.urls; }, size: function (d) { return d.dimension.labels.length; } },
    reasons: { option: reasons, urls: function (d) { return d.reasons.urls; }, size: function (d) { return d.reasons.labels.length; } },
  };

  function draw() {
    var source = document.getElementById("analytics-data");
    if (!source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var kind = CHARTS[element.dataset.chart];
      if (!kind) {
        return;
      }
      var option = kind.size(data) === 0 ? null : kind.option(data);
      window.dashboardCharts.mount(element, option, kind.urls(data), data.labels.empty);
    });
  }

  // Dates typed into the form make the period a custom one.
  function customDates() {
    var period = document.getElementById("id_period");
    ["id_start", "id_end"].forEach(function (id) {
      var input = document.getElementById(id);
      if (period && input) {
        input.addEventListener("change", function () { period.value = "custom"; });
      }
    });
  }

  function start() {
    customDates();
    draw();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
