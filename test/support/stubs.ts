/**
 * A Durable Object namespace whose stubs answer one RPC method with a replacement (an object that
 * fails, or one that does something first): what tests give the Worker in place of a real binding.
 */
export function replacingMethod<T extends Rpc.DurableObjectBranded | undefined>(
  ns: DurableObjectNamespace<T>,
  method: string,
  replacement: (stub: DurableObjectStub<T>, name: string) => (...args: never[]) => unknown,
  objects: (name: string) => boolean = () => true,
): DurableObjectNamespace<T> {
  return new Proxy(ns, {
    get(target, property) {
      if (property !== "getByName") return Reflect.get(target, property, target);
      return (name: string) => {
        const stub = target.getByName(name);
        if (!objects(name)) return stub;
        return new Proxy(stub, {
          get(inner, called) {
            if (called === method) return replacement(inner, name);
            return Reflect.get(inner, called, inner);
          },
        });
      };
    },
  });
}

/** An RPC that fails as an overloaded object does. */
export const overloaded = () => () => Promise.reject(new Error("overloaded"));
