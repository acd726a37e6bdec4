"""A Modbus TCP device for Clio's modbus-tcp collector tests (PyPI: pymodbus).

Usage: modbus_server.py PORT. Serves unit 1 on 127.0.0.1:PORT with fixed registers
(request address 0 is the first value of each list):
  holding: 650, 0xFFFE, 0x4148, 0x0000          (u16 650, i16 -2, f32 12.5 high word first)
  input:   0x0002, 0x0001, 0xFEFF, 0x0000, 0xC0BF (u32 65538 low word first, i16 -2 little
           byte order, f32 -1.5 little byte order low word first)
Prints "ready" once listening.
"""
import asyncio
import sys

from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import StartAsyncTcpServer

HOLDING = [650, 0xFFFE, 0x4148, 0x0000]
INPUT = [0x0002, 0x0001, 0xFEFF, 0x0000, 0xC0BF]


async def main(port):
    # The device context adds 1 to every request address: a block starting at 1 serves
    # request address 0 from its first value.
    device = ModbusDeviceContext(
        hr=ModbusSequentialDataBlock(1, HOLDING),
        ir=ModbusSequentialDataBlock(1, INPUT),
    )
    ctx = ModbusServerContext(devices={1: device}, single=False)
    server = StartAsyncTcpServer(context=ctx, address=("127.0.0.1", port))
    task = asyncio.ensure_future(server)
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
