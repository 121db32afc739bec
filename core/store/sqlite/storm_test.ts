import { openSqliteStore } from "./sqlite.ts";
import { stormContract } from "../../../tests/_storm_contract.ts";

stormContract("sqlite", async () => {
  const dir = await Deno.makeTempDir({ prefix: "blitz_storm_" });
  const store = openSqliteStore(`${dir}/blitz.db`);
  return {
    store,
    async close() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});
