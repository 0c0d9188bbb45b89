#!/usr/bin/python3
"""A tiny CRI client, the calls kubelet makes to run a pod, for
tests/integration/cri.sh and bench/cri.sh (no kubelet, no crictl).

  cri.py SOCK COMMAND ARG...   prints JSON (or an id) on stdout

Commands: version; pull IMAGE; run-pod CONFIG.json HANDLER;
create POD CTR.json POD.json; start ID; status ID; pod-status POD;
stop ID [TIMEOUT]; rm ID; stop-pod POD; rm-pod POD;
exec ID TIMEOUT CMD...; wait-exit ID SECONDS;
pod-run POD.json CTR.json HANDLER (timed, for bench/cri.sh).
CONFIG files are the CRI messages as JSON (protobuf's JSON mapping).
The .proto is compiled into $CRI_GEN (a scratch directory) on first use.
"""
import json
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
gen = os.environ.get("CRI_GEN") or sys.exit("cri.py: set CRI_GEN to a scratch directory")
if not os.path.exists(os.path.join(gen, "cri_pb2_grpc.py")):
    from grpc_tools import protoc
    os.makedirs(gen, exist_ok=True)
    if protoc.main(["protoc", "-I" + here, "--python_out=" + gen, "--grpc_python_out=" + gen,
                    os.path.join(here, "cri.proto")]) != 0:
        sys.exit("cri.py: protoc failed")
sys.path.insert(0, gen)
import grpc  # noqa: E402
import cri_pb2 as pb  # noqa: E402
import cri_pb2_grpc as pbg  # noqa: E402
from google.protobuf import json_format  # noqa: E402


def load(path, msg):
    with open(path) as f:
        return json_format.ParseDict(json.load(f), msg)


def out(msg):
    print(json.dumps(json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                               use_integers_for_enums=True)))


def main():
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    ch = grpc.insecure_channel("unix://" + sock)
    rt, img = pbg.RuntimeServiceStub(ch), pbg.ImageServiceStub(ch)
    t = 120
    if cmd == "version":
        out(rt.Version(pb.VersionRequest(version="v1"), timeout=t))
    elif cmd == "pull":
        print(img.PullImage(pb.PullImageRequest(image=pb.ImageSpec(image=args[0])), timeout=t).image_ref)
    elif cmd == "run-pod":
        r = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=load(args[0], pb.PodSandboxConfig()),
                                                     runtime_handler=args[1]), timeout=t)
        print(r.pod_sandbox_id)
    elif cmd == "create":
        r = rt.CreateContainer(pb.CreateContainerRequest(
            pod_sandbox_id=args[0], config=load(args[1], pb.ContainerConfig()),
            sandbox_config=load(args[2], pb.PodSandboxConfig())), timeout=t)
        print(r.container_id)
    elif cmd == "start":
        rt.StartContainer(pb.StartContainerRequest(container_id=args[0]), timeout=t)
    elif cmd == "status":
        out(rt.ContainerStatus(pb.ContainerStatusRequest(container_id=args[0]), timeout=t).status)
    elif cmd == "pod-status":
        out(rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=args[0]), timeout=t).status)
    elif cmd == "stop":
        rt.StopContainer(pb.StopContainerRequest(container_id=args[0],
                                                 timeout=int(args[1]) if len(args) > 1 else 10), timeout=t)
    elif cmd == "rm":
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=args[0]), timeout=t)
    elif cmd == "stop-pod":
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=args[0]), timeout=t)
    elif cmd == "rm-pod":
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=args[0]), timeout=t)
    elif cmd == "exec":
        r = rt.ExecSync(pb.ExecSyncRequest(container_id=args[0], timeout=int(args[1]), cmd=args[2:]),
                        timeout=t)
        sys.stdout.write(r.stdout.decode(errors="replace"))
        sys.stderr.write(r.stderr.decode(errors="replace"))
        sys.exit(r.exit_code)
    elif cmd == "pod-run":
        # POD.json CTR.json HANDLER: one pod, one container, timed in
        # this process (no client start-up in the figures): ms from
        # RunPodSandbox to the container's exit, and its phases.
        pod, ctr = load(args[0], pb.PodSandboxConfig()), load(args[1], pb.ContainerConfig())
        t0 = time.monotonic()
        sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pod, runtime_handler=args[2]), timeout=t).pod_sandbox_id
        t1 = time.monotonic()
        cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=ctr, sandbox_config=pod),
                                 timeout=t).container_id
        t2 = time.monotonic()
        rt.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=t)
        t3 = time.monotonic()
        while True:
            st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid), timeout=t).status
            if st.state == pb.CONTAINER_EXITED or time.monotonic() - t0 > 300:
                break
            time.sleep(0.01)
        t4 = time.monotonic()
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=t)
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=t)
        ms = lambda a, b: round((b - a) * 1000)
        print(json.dumps({"total_ms": ms(t0, t4), "sandbox_ms": ms(t0, t1), "create_ms": ms(t1, t2),
                          "start_ms": ms(t2, t3), "run_ms": ms(t3, t4), "exit_code": st.exit_code,
                          "exited": st.state == pb.CONTAINER_EXITED}))
    elif cmd == "wait-exit":
        end = time.monotonic() + float(args[1])
        while True:
            s = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=args[0]), timeout=t).status
            if s.state == pb.CONTAINER_EXITED or time.monotonic() > end:
                out(s)
                return
            time.sleep(0.1)
    else:
        sys.exit("cri.py: unknown command " + cmd)


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        sys.exit("cri.py: %s: %s" % (e.code().name, e.details()))
