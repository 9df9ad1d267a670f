# Enterprise Gateway with the `toolkernel_kubernetes` kernelspec added to its own.
#
#   docker build -t toolkernel-enterprise-gateway:latest -f gateway.Dockerfile deploy/enterprise-gateway
#
# Its argv reuses the launcher of the gateway's stock `python_kubernetes` kernelspec (and so
# its kernel-pod.yaml.j2 template); copy that kernelspec's scripts/ next to our kernel.json
# and point argv there to customise the pod.
ARG EG_VERSION=3.3.0
FROM elyra/enterprise-gateway:${EG_VERSION}
COPY kernelspecs/ /usr/local/share/jupyter/kernels/
