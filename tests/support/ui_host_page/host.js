// A stand-in for the Kytos-ng web UI (kytos-ng/ui), written for these tests: what a NApp's
// panel meets there and nothing more. The NApp components are listed by /ui/<section>/ and
// fetched from /ui/<user>/<napp>/<section>/<file>.kytos as kytosd serves them, compiled in
// the page by vue3-sfc-loader with only "vue" in its module cache, and mounted the way the
// UI mounts them: every toolbar item at page load (hidden but the active one), every info
// panel component hidden and without content at page load, and again with content when a
// "showInfoPanel" event names it. The k-* components below are small stand-ins with the
// props, events and slots NApps use.
//
// For the tests it also records which fields of each REST answer the components read
// (window.__fieldReads) and every notification (window.__notifications).
"use strict";

(function () {
  const { createApp, defineAsyncComponent, reactive } = Vue;
  const { loadModule } = window["vue3-sfc-loader"];

  const server = location.protocol + "//" + location.host + "/";
  const serverApi = server + "api/";

  // -- the event bus ($on / $off / $emit, as the UI's) ------------------------------------
  const handlers = new Map();
  const eventBus = {
    $on(name, handler) {
      if (!handlers.has(name)) handlers.set(name, new Set());
      handlers.get(name).add(handler);
    },
    $off(name, handler) {
      const set = handlers.get(name);
      if (set) set.delete(handler);
    },
    $emit(name, ...args) {
      const set = handlers.get(name);
      if (set) for (const handler of Array.from(set)) handler(...args);
    },
  };

  // -- what the components read of each REST answer ----------------------------------------
  // Each answer of /api/ is wrapped in proxies that note every property read, by its path
  // in the answer (["counters", "confirmed"], ["messages", "[]", "outcome"]); the test checks
  // each path against the route's schema in openapi.yml.
  const fieldReads = [];
  const noted = new Set();
  window.__fieldReads = fieldReads;
  const NOT_FIELDS = new Set(["toJSON", "then", "constructor", "valueOf", "toString",
    "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "__proto__"]);

  function note(answer, path) {
    const key = JSON.stringify([answer.method, answer.url, answer.status, path]);
    if (noted.has(key)) return;
    noted.add(key);
    fieldReads.push({ method: answer.method, url: answer.url, status: answer.status, path: path });
  }

  function recorded(value, answer, path, proxies) {
    if (value === null || typeof value !== "object") return value;
    if (proxies.has(value)) return proxies.get(value);
    const proxy = new Proxy(value, {
      get(target, key) {
        const item = Reflect.get(target, key);
        if (typeof key !== "string" || key.startsWith("__v_") || NOT_FIELDS.has(key)) {
          return item;
        }
        if (Array.isArray(target)) {
          if (!/^\d+$/.test(key)) return item; // length, map, slice...: the array's own
          return recorded(item, answer, path.concat(["[]"]), proxies);
        }
        const here = path.concat([key]);
        note(answer, here);
        return recorded(item, answer, here, proxies);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  }

  function recordAnswer(response) {
    const url = new URL(response.config.url, location.href);
    if (!url.pathname.startsWith("/api/")) return;
    const answer = { method: response.config.method.toUpperCase(), url: url.pathname,
      status: response.status };
    response.data = recorded(response.data, answer, [], new WeakMap());
  }

  axios.interceptors.response.use(
    (response) => {
      recordAnswer(response);
      return response;
    },
    (error) => {
      if (error && error.response) recordAnswer(error.response);
      return Promise.reject(error);
    },
  );

  // -- $http_helpers.post_error: an error notification --------------------------------------
  const httpHelpers = {
    post_error(component, error, title) {
      const response = error && error.response;
      const data = response ? response.data : null;
      eventBus.$emit("setNotification", {
        icon: "gear",
        title: (title || "Status") + " (" + (response ? response.status : 0) + "):",
        description: data && typeof data === "object" && "description" in data
          ? String(data.description) : String(data || (error && error.message) || ""),
      });
    },
  };

  // -- loading NApp components: options of the same shape as the UI gives vue3-sfc-loader --
  const loaderOptions = {
    moduleCache: { vue: Vue }, // all a component may import
    pathResolve({ refPath, relPath }) {
      if (relPath === ".") return refPath;
      if (!relPath.startsWith(".") && !relPath.startsWith("/")) return relPath; // a module
      return String(new URL(relPath, refPath === undefined ? location.href : refPath));
    },
    async handleModule(type, getContentData, path, options) {
      if (type === ".css") {
        options.addStyle(await getContentData(false));
        return null;
      }
      return undefined; // the loader's own handling
    },
    async getFile(url) {
      const response = await fetch(url);
      if (!response.ok) {
        throw Object.assign(new Error(url + " " + response.statusText), { response });
      }
      // a .kytos file is a Vue single-file component
      return { type: ".vue", getContentData: () => response.text() };
    },
    addStyle(textContent) {
      const style = document.createElement("style");
      style.textContent = textContent;
      document.head.insertBefore(style, document.head.getElementsByTagName("style")[0] || null);
    },
    log(type, ...args) {
      console[type]("vue3-sfc-loader:", ...args);
    },
  };

  const toolbarItems = reactive({}); // name -> {name, url, icon, tooltip}, in menu order
  let app = null;

  function registerComponents(components) {
    for (const component of components) {
      if (!("url" in component)) continue;
      const url = server + component.url;
      app.component(component.name,
        defineAsyncComponent(() => loadModule(url, loaderOptions)));
    }
  }

  // -- k-* stand-ins ------------------------------------------------------------------------
  const KHostHome = { // the UI's own first toolbar item (map settings): active at page load
    template: `<div class="k-toolbar-item" data-test="host-home">
      <div class="k-host-note">Map settings (a built-in panel of the UI)</div></div>`,
  };

  const KToolbarItem = {
    props: ["name", "icon", "tooltip"],
    template: `<div class="k-toolbar-item"><slot></slot></div>`,
    mounted() {
      const item = toolbarItems[this.name];
      if (item === undefined) { // as the UI: the name must be the one kytosd generated
        throw new Error("k-toolbar-item: no toolbar component is named " +
          JSON.stringify(this.name));
      }
      item.icon = this.icon;
      item.tooltip = this.tooltip;
    },
  };

  const KAccordion = { template: `<div class="k-accordion"><slot></slot></div>` };

  const KAccordionItem = {
    props: { title: String, defaultState: { type: Boolean, default: true } },
    data() {
      return { open: this.defaultState };
    },
    template: `<div class="k-accordion-item">
      <div class="k-accordion-label" @click="open = !open">{{ open ? "\u25be" : "\u25b8" }} {{ title }}</div>
      <div v-show="open" class="k-accordion-content"><slot></slot></div></div>`,
  };

  const KButton = {
    props: { title: String, icon: String, tooltip: String,
      isDisabled: { type: Boolean, default: false } },
    emits: ["click"],
    template: `<button class="k-button" :title="tooltip" :disabled="isDisabled"
      @click="$emit('click', $event)">{{ title }}</button>`,
  };

  const KPropertyPanel = {
    template: `<table class="k-property-panel"><tbody><slot></slot></tbody></table>`,
  };

  const KPropertyPanelItem = {
    props: { name: { type: String, required: true },
      value: { type: [String, Number], required: true } },
    template: `<tr class="k-property-panel-item"><th>{{ name }}</th><td>{{ value }}</td></tr>`,
  };

  const KModal = {
    props: { message: { type: String, default: "" }, header: { type: String, default: "" },
      buttonTitle: { type: String, default: "Ok" }, action: { type: Function },
      showModal: { type: Boolean, required: true } },
    emits: ["update:showModal"],
    methods: {
      close() {
        this.$emit("update:showModal", false);
      },
      confirm() {
        if (this.action) this.action();
        this.close();
      },
    },
    template: `<div v-if="showModal" class="k-modal-mask" data-test="k-modal">
      <div class="k-modal">
        <div class="k-modal-header"><slot name="header">{{ header }}</slot></div>
        <div class="k-modal-body"><slot name="body">{{ message }}</slot></div>
        <div class="k-modal-footer"><slot name="footer">
          <k-button title="Cancel" @click="close"></k-button>
          <k-button :title="buttonTitle" @click="confirm"></k-button>
        </slot></div>
      </div></div>`,
  };

  const KMenubar = {
    props: ["active"],
    emits: ["select"],
    computed: {
      items() {
        return Object.values(toolbarItems);
      },
    },
    template: `<nav class="k-menu-bar"><div class="k-logo">k</div>
      <button v-for="(item, index) in items" :key="item.name" class="k-menu-item"
        :class="{ active: active === index + 1 }" :title="item.tooltip" data-test="menubar-item"
        :data-name="item.name" @click="$emit('select', index + 1)">{{ index + 1 }}</button></nav>`,
  };

  const KToolbar = {
    props: ["active"],
    computed: {
      items() {
        return Object.values(toolbarItems);
      },
    },
    async created() {
      let listed = [];
      try {
        const response = await axios.get(server + "ui/k-toolbar");
        listed = response.data;
        for (const item of listed) toolbarItems[item.name] = { ...item };
      } catch (error) {
        console.error(error);
      } finally {
        registerComponents(listed);
      }
    },
    template: `<aside class="k-toolbar"><component v-for="(item, index) in items" :key="item.name"
      :is="item.name" v-show="active === index + 1"></component></aside>`,
  };

  const KInfoPanel = {
    data() {
      return { shown: false, view: "span", content: undefined, title: "", subtitle: "",
        maximized: false };
    },
    mounted() {
      eventBus.$on("showInfoPanel", this.show);
      eventBus.$on("hideInfoPanel", this.hide);
    },
    unmounted() {
      eventBus.$off("showInfoPanel", this.show);
      eventBus.$off("hideInfoPanel", this.hide);
    },
    methods: {
      show(panel) {
        this.view = panel.component;
        this.content = panel.content;
        this.title = panel.title;
        this.subtitle = panel.subtitle;
        this.maximized = Boolean(panel.maximized);
        this.shown = true;
      },
      hide() { // as the UI: the component goes (a plain span takes its place)
        this.content = {};
        this.view = "span";
        this.shown = false;
      },
    },
    template: `<section v-show="shown" class="k-info-panel" :class="{ 'k-info-panel-max': maximized }"
      data-test="info-panel">
      <div class="k-info-head"><h1>{{ title }} <small>{{ subtitle }}</small></h1>
        <button class="k-info-close" data-test="info-panel-close" title="Close"
          @click="hide">\u00d7</button></div>
      <div class="k-info-wrapper"><component :is="view" :content="content"></component></div>
      </section>`,
  };

  const KNappsInfoPanel = {
    data() {
      return { components: [] };
    },
    async created() {
      let listed = [];
      try {
        const response = await axios.get(server + "ui/k-info-panel");
        listed = response.data;
      } catch (error) {
        console.error(error);
      } finally {
        registerComponents(listed);
        this.components = listed;
      }
    },
    template: `<div class="k-napps-info-panel"><component v-for="component in components"
      :key="component.name" :is="component.name" v-show="false"></component></div>`,
  };

  window.__notifications = [];
  const KNotifications = {
    data() {
      return { items: [] };
    },
    mounted() {
      eventBus.$on("setNotification", this.add);
    },
    methods: {
      add(notification) {
        const item = { title: String(notification.title),
          description: String(notification.description || ""), icon: notification.icon,
          at: Date.now() };
        window.__notifications.push(item);
        this.items.unshift(item);
      },
    },
    template: `<div class="k-notifications" data-test="notifications">
      <div v-for="item in items.slice(0, 2)" :key="item.at + item.title" class="k-notification"
        data-test="notification"><b>{{ item.title }}</b><div>{{ item.description }}</div></div>
      </div>`,
  };

  const App = {
    data() {
      return { active: 1 };
    },
    methods: {
      select(index) {
        eventBus.$emit("hideInfoPanel");
        this.active = index;
      },
    },
    template: `<div class="k-app">
      <k-menubar :active="active" @select="select"></k-menubar>
      <k-toolbar :active="active"></k-toolbar>
      <main class="k-map" data-test="map">topology map</main>
      <k-info-panel></k-info-panel>
      <k-napps-info-panel></k-napps-info-panel>
      <k-notifications></k-notifications></div>`,
  };

  toolbarItems["k-host-home"] = { name: "k-host-home", icon: "map", tooltip: "Map settings" };
  app = createApp(App);
  app.eventBus = eventBus;
  app.config.compilerOptions.whitespace = "preserve";
  const properties = app.config.globalProperties;
  properties.$http = axios;
  properties.$kytos = app;
  properties.$kytos_server = server;
  properties.$kytos_server_api = serverApi;
  properties.$http_helpers = httpHelpers;
  const components = {
    "k-host-home": KHostHome, "k-toolbar-item": KToolbarItem, "k-accordion": KAccordion,
    "k-accordion-item": KAccordionItem, "k-button": KButton, "k-property-panel": KPropertyPanel,
    "k-property-panel-item": KPropertyPanelItem, "k-modal": KModal, "k-menubar": KMenubar,
    "k-toolbar": KToolbar, "k-info-panel": KInfoPanel, "k-napps-info-panel": KNappsInfoPanel,
    "k-notifications": KNotifications,
  };
  for (const [name, component] of Object.entries(components)) app.component(name, component);
  app.mount("#app");
  window.__hostReady = true;
})();
